// The optimizer's ATen calls that tch 0.24 does not reach: one fused AdamW update (ATen's
// `_fused_adamw_` kernel, on CPU and CUDA; tch generates no tensor-list operators) and setting a
// variable's gradient tensor. A tch tensor handle is a pointer to an at::Tensor (torch-sys's
// `typedef torch::Tensor *tensor`).
#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adamw.h>

#include <exception>

#include "shim.h"

extern "C" int lmm_fused_adamw(void *param, void *grad, void *exp_avg, void *exp_avg_sq, void *step, double lr,
                               double beta1, double beta2, double weight_decay, double eps, char *err,
                               size_t err_len) {
  try {
    const at::Tensor &p = *static_cast<at::Tensor *>(param);
    const at::Tensor &g = *static_cast<at::Tensor *>(grad);
    const at::Tensor &m = *static_cast<at::Tensor *>(exp_avg);
    const at::Tensor &v = *static_cast<at::Tensor *>(exp_avg_sq);
    const at::Tensor &s = *static_cast<at::Tensor *>(step);
    at::_fused_adamw_({p}, {g}, {m}, {v}, {}, {s}, lr, beta1, beta2, weight_decay, eps, /*amsgrad=*/false,
                      /*maximize=*/false, std::nullopt, std::nullopt);
    return 0;
  } catch (const std::exception &e) {
    return lmm_error(e.what(), err, err_len);
  }
}

// Makes `grad` the gradient of `param` (param.grad = grad): autograd then accumulates into it in
// place, so that the gradients of all variables can live in one flat buffer.
extern "C" int lmm_set_grad(void *param, void *grad, char *err, size_t err_len) {
  try {
    at::Tensor &p = *static_cast<at::Tensor *>(param);
    const at::Tensor &g = *static_cast<at::Tensor *>(grad);
    TORCH_CHECK(g.sizes() == p.sizes() && g.scalar_type() == p.scalar_type() && g.device() == p.device(),
                "a gradient must have its variable's shape, dtype and device");
    p.mutable_grad() = g;
    return 0;
  } catch (const std::exception &e) {
    return lmm_error(e.what(), err, err_len);
  }
}
