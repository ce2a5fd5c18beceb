// One fused AdamW update (ATen's `_fused_adamw_` kernel, on CPU and CUDA) of tensors that tch
// owns. tch 0.24 does not generate ATen's tensor-list operators, so this shim calls it; a tch
// tensor handle is a pointer to an at::Tensor (torch-sys's `typedef torch::Tensor *tensor`).
#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adamw.h>

#include <cstring>
#include <exception>

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
    std::strncpy(err, e.what(), err_len - 1);
    err[err_len - 1] = 0;
    return 1;
  }
}
