// Activation recomputation ("gradient checkpointing") for tensors that tch owns. tch 0.24 cannot
// define autograd functions, so this shim adds one autograd node per checkpointed segment:
//
// forward  — runs the segment (a Rust closure, called through `run`) without recording a graph,
//            keeps only its inputs and the generators' states, and makes the node the grad_fn of
//            the segment's outputs;
// backward — restores the generators' states (so that dropout draws the same masks), runs the
//            segment again with a graph from detached copies of the inputs, back-propagates the
//            incoming gradients through it (a nested backward, as torch.utils.checkpoint does
//            with use_reentrant=True: the parameters' .grad accumulate there), and returns the
//            inputs' gradients.
//
// Everything the segment reads that needs a gradient, other than leaf parameters, must be one of
// its inputs. A tch tensor handle is a pointer to an at::Tensor (torch-sys's `torch::Tensor *`).
#include <ATen/Context.h>
#include <ATen/core/Tensor.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "shim.h"

extern "C" {
// Appends a copy of `*tensor` to the output list `sink` (called by `run` for each output).
typedef void (*lmm_push_fn)(void *sink, void *tensor);
// Runs the segment on `n` inputs (fresh at::Tensor objects that the callee owns and frees) and
// pushes its outputs; 0 on success, else a message in `err`.
typedef int (*lmm_run_fn)(void *env, void **inputs, size_t n, void *sink, lmm_push_fn push, char *err,
                          size_t err_len);
// Frees `env` once no graph refers to the segment any more.
typedef void (*lmm_drop_fn)(void *env);
}

namespace {

using torch::autograd::Node;
using torch::autograd::variable_list;

void push(void *sink, void *tensor) {
  static_cast<std::vector<at::Tensor> *>(sink)->push_back(*static_cast<at::Tensor *>(tensor));
}

// The Rust closure of one segment; freed with the last node (or call) that holds it.
struct Segment {
  lmm_run_fn run;
  lmm_drop_fn drop;
  void *env;
  Segment(const Segment &) = delete;  // one owner of `env`: the destructor frees it
  Segment &operator=(const Segment &) = delete;
  ~Segment() { drop(env); }

  std::vector<at::Tensor> call(const std::vector<at::Tensor> &inputs) const {
    std::vector<void *> handles;
    handles.reserve(inputs.size());
    for (const auto &t : inputs) handles.push_back(new at::Tensor(t));
    std::vector<at::Tensor> out;
    char err[1024] = {0};
    // The callee owns the handles from here on, whatever it returns.
    if (run(env, handles.data(), handles.size(), &out, push, err, sizeof err) != 0) {
      throw std::runtime_error(std::string("checkpointed segment: ") + err);
    }
    return out;
  }
};

// Generator states of the CPU and of the CUDA device the inputs live on (if any).
struct RngState {
  at::Tensor cpu;
  std::optional<at::Device> cuda;
  at::Tensor cuda_state;

  static RngState capture(const std::vector<at::Tensor> &inputs) {
    RngState s;
    s.cpu = get(at::Device(at::kCPU));
    for (const auto &t : inputs) {
      if (t.defined() && t.is_cuda()) {
        s.cuda = t.device();
        s.cuda_state = get(*s.cuda);
        break;
      }
    }
    return s;
  }

  void restore() const {
    set(at::Device(at::kCPU), cpu);
    if (cuda) set(*cuda, cuda_state);
  }

 private:
  static at::Tensor get(at::Device d) {
    auto gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return gen.get_state();
  }
  static void set(at::Device d, const at::Tensor &state) {
    auto gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
  }
};

struct RecomputeBackward : public Node {
  std::shared_ptr<Segment> segment;
  std::vector<at::Tensor> inputs;  // detached; their autograd history is in next_edges
  std::vector<bool> needs_grad;
  RngState rng;

  std::string name() const override { return "lmmrotate::RecomputeBackward"; }

  void release_variables() override { inputs.clear(); }

  variable_list apply(variable_list &&grads) override {
    TORCH_CHECK(!inputs.empty() || needs_grad.empty(),
                "a checkpointed segment was back-propagated twice (its inputs are released after the first)");
    std::vector<at::Tensor> leaves;
    leaves.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      at::Tensor x = inputs[i].detach();
      if (needs_grad[i]) x.requires_grad_(true);
      leaves.push_back(x);
    }
    // Recompute under the forward pass's generator states, then put the current ones back.
    RngState now = RngState::capture(inputs);
    std::vector<at::Tensor> outs;
    rng.restore();
    try {
      at::AutoGradMode grad(true);
      outs = segment->call(leaves);
    } catch (...) {
      now.restore();
      throw;
    }
    now.restore();
    TORCH_CHECK(outs.size() == grads.size(), "checkpointed segment returned ", outs.size(),
                " outputs on recomputation, ", grads.size(), " in the forward pass");
    variable_list roots, root_grads;
    for (size_t i = 0; i < outs.size(); ++i) {
      if (grads[i].defined() && outs[i].requires_grad()) {
        roots.push_back(outs[i]);
        root_grads.push_back(grads[i]);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, root_grads);
    variable_list result;
    result.reserve(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      result.push_back(needs_grad[i] ? leaves[i].grad() : at::Tensor());
    }
    return result;
  }
};

}  // namespace

// Runs a segment on `inputs` (borrowed handles) and returns its outputs as fresh at::Tensor
// handles in `outputs` (at most `cap`; the caller owns them), their number in `n_out`. With
// gradient mode on, the outputs get a RecomputeBackward node and only the inputs are kept; the
// segment (env) is then freed with the node, otherwise before returning. 0 on success.
extern "C" int lmm_recompute(lmm_run_fn run, lmm_drop_fn drop, void *env, void **inputs, size_t n_in,
                             void **outputs, size_t cap, size_t *n_out, char *err, size_t err_len) {
  std::shared_ptr<Segment> segment(new Segment{run, drop, env});
  try {
    std::vector<at::Tensor> in;
    in.reserve(n_in);
    for (size_t i = 0; i < n_in; ++i) in.push_back(*static_cast<at::Tensor *>(inputs[i]));
    std::vector<at::Tensor> out;
    if (!torch::autograd::GradMode::is_enabled()) {
      out = segment->call(in);
    } else {
      auto node = std::shared_ptr<RecomputeBackward>(new RecomputeBackward(), torch::autograd::deleteNode);
      node->rng = RngState::capture(in);
      {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> detached;
        for (const auto &t : in) detached.push_back(t.detach());
        out = segment->call(detached);
      }
      for (const auto &t : in) {
        node->inputs.push_back(t.detach());
        node->needs_grad.push_back(t.requires_grad());
      }
      node->set_next_edges(torch::autograd::collect_next_edges(in));
      node->segment = segment;
      // The node is the outputs' grad_fn even when no input needs a gradient: the parameters
      // read inside the segment do.
      for (auto &t : out) {
        TORCH_CHECK(t.defined(), "checkpointed segment returned an undefined tensor");
        if (t.is_view()) t = t.clone();  // a view's grad_fn is rebuilt from its base
        TORCH_CHECK(at::isFloatingType(t.scalar_type()), "checkpointed segment returned a non-float tensor");
        torch::autograd::set_history(t, node);
      }
    }
    if (out.size() > cap) {
      throw std::runtime_error("checkpointed segment returned " + std::to_string(out.size()) + " outputs, room for " +
                               std::to_string(cap));
    }
    for (size_t i = 0; i < out.size(); ++i) outputs[i] = new at::Tensor(out[i]);
    *n_out = out.size();
    return 0;
  } catch (const std::exception &e) {
    return lmm_error(e.what(), err, err_len);
  }
}
