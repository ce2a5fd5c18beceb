//! Gradient checkpointing: a segment of the network (one DaViT block, one encoder or decoder
//! layer) keeps only its inputs in the autograd graph and runs again during the backward pass,
//! trading one more forward pass for the activations it would have kept. libtorch does the
//! bookkeeping in the C++ shim `csrc/recompute.cpp` (tch cannot define autograd functions); this
//! module hands it Rust closures.
//!
//! Rules for a segment: every tensor it reads that needs a gradient and is not a leaf parameter
//! must be one of its `inputs` (a captured non-leaf would be back-propagated through once per
//! recomputation); it must draw random numbers only from libtorch's default generators (their
//! states are restored for the recomputation, so dropout draws the same masks); and it must not
//! modify its inputs in place.

use std::{
    ffi::{c_char, c_int, c_void},
    panic::{catch_unwind, AssertUnwindSafe},
};
use crate::shim;
use tch::Tensor;

type PushFn = unsafe extern "C" fn(sink: *mut c_void, tensor: *mut c_void);
type RunFn = unsafe extern "C" fn(
    env: *mut c_void,
    inputs: *mut *mut c_void,
    n: usize,
    sink: *mut c_void,
    push: PushFn,
    err: *mut c_char,
    err_len: usize,
) -> c_int;
type DropFn = unsafe extern "C" fn(env: *mut c_void);

extern "C" {
    fn lmm_recompute(
        run: RunFn,
        drop: DropFn,
        env: *mut c_void,
        inputs: *mut *mut c_void,
        n_in: usize,
        outputs: *mut *mut c_void,
        cap: usize,
        n_out: *mut usize,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// A segment's computation, borrowing for `'a`.
type SegmentFn<'a> = dyn Fn(&[Tensor]) -> Vec<Tensor> + 'a;

/// The closure as the shim holds it (lifetime erased, see [`checkpoint`]).
type Segment = Box<SegmentFn<'static>>;

/// Most outputs a segment may return.
const MAX_OUTPUTS: usize = 8;

unsafe extern "C" fn run_segment(
    env: *mut c_void,
    inputs: *mut *mut c_void,
    n: usize,
    sink: *mut c_void,
    push: PushFn,
    err: *mut c_char,
    err_len: usize,
) -> c_int {
    // SAFETY: `env` is the `Segment` boxed by `checkpoint`, alive until `drop_segment`; the shim
    // passes `n` fresh at::Tensor handles whose ownership moves to these tch tensors.
    let f = unsafe { &*(env as *const Segment) };
    let xs: Vec<Tensor> = (0..n).map(|i| unsafe { Tensor::from_ptr((*inputs.add(i)).cast()) }).collect();
    match catch_unwind(AssertUnwindSafe(|| f(&xs))) {
        Ok(outs) => {
            for o in &outs {
                // SAFETY: the shim copies the at::Tensor (a reference count) before `o` drops.
                unsafe { push(sink, o.as_ptr() as *mut c_void) };
            }
            0
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            let bytes = msg.as_bytes();
            let n = bytes.len().min(err_len.saturating_sub(1));
            // SAFETY: `err` has room for `err_len` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), err as *mut u8, n);
                *err.add(n) = 0;
            }
            1
        }
    }
}

unsafe extern "C" fn drop_segment(env: *mut c_void) {
    // SAFETY: called once by the shim, with the pointer `checkpoint` leaked.
    drop(unsafe { Box::from_raw(env as *mut Segment) });
}

/// Runs `f` on `inputs`. With gradient mode on (training), the autograd graph keeps `inputs`
/// only and `f` runs again when the gradient reaches its outputs; otherwise this is `f(inputs)`.
///
/// `f` must be a `move` closure that captures only references to the model and plain values:
/// it runs again in the backward pass, after the caller's stack frame (a loop variable, a local
/// closure) is gone, so a reference to anything on that stack would dangle. The model outlives
/// it: the graph that refers to `f` lives within the training step that builds it (the step
/// back-propagates, then drops the loss), and the autograd engine calls `f` only while that step
/// waits in `backward()`, on the step's thread or on a CUDA device thread.
pub fn checkpoint<'a>(inputs: &[&Tensor], f: impl Fn(&[Tensor]) -> Vec<Tensor> + 'a) -> Vec<Tensor> {
    let boxed: Box<SegmentFn<'a>> = Box::new(f);
    // SAFETY: lifetime erasure under the contract above: the graph holding the closure is used
    // (and normally dropped) inside the borrow's lifetime. Dropping a graph later only frees it.
    let boxed: Segment = unsafe { std::mem::transmute::<Box<SegmentFn<'a>>, Segment>(boxed) };
    let env = Box::into_raw(Box::new(boxed)) as *mut c_void;
    let mut handles: Vec<*mut c_void> = inputs.iter().map(|t| shim::handle(t)).collect();
    let mut outs = [std::ptr::null_mut::<c_void>(); MAX_OUTPUTS];
    let mut n_out = 0usize;
    // SAFETY: the handles are live at::Tensors for the call (the shim copies them); `env` passes
    // to the shim, which frees it through `drop_segment` exactly once.
    let called = shim::call(|err, len| unsafe {
        lmm_recompute(run_segment, drop_segment, env, handles.as_mut_ptr(), handles.len(), outs.as_mut_ptr(), MAX_OUTPUTS, &mut n_out, err, len)
    });
    if let Err(msg) = called {
        // Inside a plugin call, panics become the call's error (catch_unwind at the ABI).
        panic!("{msg}");
    }
    // SAFETY: the shim allocated `n_out` at::Tensor handles that the caller owns.
    outs[..n_out].iter().map(|&p| unsafe { Tensor::from_ptr(p.cast()) }).collect()
}

/// [`checkpoint`] of a segment with one input and one output, when `on`; else `f(x)`.
pub fn maybe_checkpoint<'a>(on: bool, x: Tensor, f: impl Fn(&Tensor) -> Tensor + 'a) -> Tensor {
    if !on {
        return f(&x);
    }
    checkpoint(&[&x], move |xs| vec![f(&xs[0])]).pop().expect("one output")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Recomputation sets the global generator's state: tests that draw hold the plugin's lock.
    fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
        crate::plugin::RNG.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn grads(ckpt: bool) -> (Tensor, Tensor, Tensor) {
        tch::manual_seed(7);
        let w = Tensor::randn([6, 6], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let x = Tensor::randn([4, 6], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let h = x.matmul(&w); // a non-leaf input
        tch::manual_seed(11);
        let seg = |t: &Tensor| t.matmul(&w).tanh().dropout(0.5, true).matmul(&w);
        let y = maybe_checkpoint(ckpt, h, seg);
        let loss = (&y * &y).sum(Kind::Double) + y.sum(Kind::Double);
        loss.backward();
        (loss.detach(), w.grad(), x.grad())
    }

    #[test]
    fn recomputation_gives_the_plain_gradients_with_dropout() {
        let _rng = rng_lock();
        let (l0, w0, x0) = grads(false);
        let (l1, w1, x1) = grads(true);
        assert_eq!(l0.double_value(&[]), l1.double_value(&[]));
        for (a, b) in [(&w0, &w1), (&x0, &x1)] {
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff < 1e-12, "gradient differs by {diff}");
        }
    }

    #[test]
    fn the_segment_runs_again_in_backward() {
        let _rng = rng_lock();
        let calls = std::cell::Cell::new(0);
        let w = Tensor::ones([3], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let x = Tensor::ones([3], (Kind::Float, Device::Cpu));
        let y = maybe_checkpoint(true, x, |t| {
            calls.set(calls.get() + 1);
            t * &w * 2.0
        });
        assert_eq!(calls.get(), 1);
        y.sum(Kind::Float).backward();
        assert_eq!(calls.get(), 2, "recomputed once in backward");
        assert_eq!(Vec::<f32>::try_from(w.grad()).unwrap(), vec![2.0, 2.0, 2.0]);
    }

    #[test]
    fn without_gradient_mode_it_is_a_plain_call() {
        let calls = std::cell::Cell::new(0);
        let x = Tensor::ones([2], (Kind::Float, Device::Cpu));
        let y = tch::no_grad(|| {
            maybe_checkpoint(true, x, |t| {
                calls.set(calls.get() + 1);
                t + 1.0
            })
        });
        assert_eq!(calls.get(), 1);
        assert!(!y.requires_grad());
    }

    #[test]
    fn a_panicking_segment_is_an_error_not_an_abort() {
        let x = Tensor::ones([2], (Kind::Float, Device::Cpu));
        let r = catch_unwind(AssertUnwindSafe(|| maybe_checkpoint(true, x, |_| panic!("segment failed on purpose"))));
        let msg = r.err().and_then(|p| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        assert!(msg.contains("segment failed on purpose"), "{msg}");
    }
}
