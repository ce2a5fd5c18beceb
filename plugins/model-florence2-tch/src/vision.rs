//! The DaViT vision tower: conv patch embeddings and pairs of spatial-window / channel attention
//! blocks, each sub-step a residual (florence2.md §2.2). Weight paths mirror the original
//! checkpoint (`vision_tower.convs.{s}`, `vision_tower.blocks.{s}.{b}.{spatial,channel}_block`).

use crate::recompute::maybe_checkpoint;
use crate::config::VisionConfig;
use tch::{nn, nn::Module, Tensor};

/// Stochastic depth, per sample, scaled by 1/keep (timm's DropPath).
fn drop_path(x: Tensor, rate: f64, train: bool) -> Tensor {
    if !train || rate == 0.0 {
        return x;
    }
    let keep = 1.0 - rate;
    let mut shape = vec![x.size()[0]];
    shape.extend(std::iter::repeat_n(1, x.dim() - 1));
    let mask = Tensor::empty(shape.as_slice(), (x.kind(), x.device())).bernoulli_float_(keep);
    x * mask / keep
}

fn layer_norm(p: nn::Path, dim: i64) -> nn::LayerNorm {
    nn::layer_norm(p, vec![dim], Default::default())
}

fn linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    nn::linear(p, i, o, Default::default())
}

/// Tokens [B, H·W, C] as an image [B, C, H, W].
fn to_image(x: &Tensor, h: i64, w: i64) -> Tensor {
    let (b, _, c) = x.size3().expect("tokens are [B, N, C]");
    x.transpose(1, 2).reshape([b, c, h, w])
}

fn to_tokens(x: &Tensor) -> Tensor {
    x.flatten(2, 3).transpose(1, 2)
}

struct ConvEmbed {
    proj: nn::Conv2D,
    norm: nn::LayerNorm,
    pre_norm: bool,
}

impl ConvEmbed {
    fn new(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64, pad: i64, pre_norm: bool) -> Self {
        let cfg = nn::ConvConfig { stride, padding: pad, ..Default::default() };
        let proj = nn::conv2d(&p / "proj", cin, cout, k, cfg);
        let norm = layer_norm(&p / "norm", if pre_norm { cin } else { cout });
        Self { proj, norm, pre_norm }
    }

    /// Stage 0 takes the image; later stages take tokens of (h, w) and pre-normalise them.
    fn forward(&self, x: &Tensor, hw: Option<(i64, i64)>) -> (Tensor, i64, i64) {
        let img = match hw {
            Some((h, w)) => {
                let x = if self.pre_norm { self.norm.forward(x) } else { x.shallow_clone() };
                to_image(&x, h, w)
            }
            None => x.shallow_clone(),
        };
        let y = self.proj.forward(&img);
        let (_, _, h, w) = y.size4().expect("conv output is 4-D");
        let mut t = to_tokens(&y);
        if !self.pre_norm {
            t = self.norm.forward(&t);
        }
        (t, h, w)
    }
}

/// `x + depthwise_conv3x3(x)` on the token grid.
struct DwConv {
    dw: nn::Conv2D,
}

impl DwConv {
    fn new(p: nn::Path, dim: i64) -> Self {
        let cfg = nn::ConvConfig { padding: 1, groups: dim, ..Default::default() };
        Self { dw: nn::conv2d(&p / "fn" / "dw", dim, dim, 3, cfg) }
    }
    fn forward(&self, x: &Tensor, h: i64, w: i64) -> Tensor {
        x + to_tokens(&self.dw.forward(&to_image(x, h, w)))
    }
}

struct Mlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl Mlp {
    fn new(p: nn::Path, dim: i64, hidden: i64) -> Self {
        Self { fc1: linear(&p / "net" / "fc1", dim, hidden), fc2: linear(&p / "net" / "fc2", hidden, dim) }
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        self.fc2.forward(&self.fc1.forward(x).gelu("none"))
    }
}

/// Multi-head attention inside 12×12 windows, zero-padded right/bottom; no mask, no bias.
struct WindowAttention {
    qkv: nn::Linear,
    proj: nn::Linear,
    heads: i64,
    window: i64,
}

impl WindowAttention {
    fn forward(&self, x: &Tensor, h: i64, w: i64) -> Tensor {
        let (b, _, c) = x.size3().unwrap();
        let ws = self.window;
        let (pad_r, pad_b) = ((ws - w % ws) % ws, (ws - h % ws) % ws);
        let mut g = x.reshape([b, h, w, c]);
        if pad_r > 0 || pad_b > 0 {
            g = g.constant_pad_nd([0, 0, 0, pad_r, 0, pad_b]);
        }
        let (hp, wp) = (h + pad_b, w + pad_r);
        let win = g
            .reshape([b, hp / ws, ws, wp / ws, ws, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([-1, ws * ws, c]);
        let n = ws * ws;
        let hd = c / self.heads;
        let qkv = self.qkv.forward(&win).reshape([-1, n, 3, self.heads, hd]).permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let o = Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, false, (hd as f64).powf(-0.5), false);
        let o = self.proj.forward(&o.transpose(1, 2).reshape([-1, n, c]));
        let merged = o
            .reshape([b, hp / ws, wp / ws, ws, ws, c])
            .permute([0, 1, 3, 2, 4, 5])
            .reshape([b, hp, wp, c]);
        let cropped = if pad_r > 0 || pad_b > 0 { merged.narrow(1, 0, h).narrow(2, 0, w) } else { merged };
        cropped.reshape([b, h * w, c])
    }
}

/// Attention across the channels of each group, scaled by (number of tokens)^-1/2.
struct ChannelAttention {
    qkv: nn::Linear,
    proj: nn::Linear,
    groups: i64,
}

impl ChannelAttention {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (b, n, c) = x.size3().unwrap();
        let cg = c / self.groups;
        let qkv = self.qkv.forward(x).reshape([b, n, 3, self.groups, cg]).permute([2, 0, 3, 4, 1]);
        // q, k, v as [B, G, Cg, N]: softmax(qᵀk · N^-½) vᵀ is attention over channels.
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let o = Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, 0.0, false, (n as f64).powf(-0.5), false);
        self.proj.forward(&o.permute([0, 3, 1, 2]).reshape([b, n, c]))
    }
}

enum Mixer {
    Window(WindowAttention),
    Channel(ChannelAttention),
}

/// conv1 → attention (pre-LN) → conv2 → MLP (pre-LN), each residual.
struct Block {
    conv1: DwConv,
    attn_norm: nn::LayerNorm,
    mixer: Mixer,
    conv2: DwConv,
    ffn_norm: nn::LayerNorm,
    ffn: Mlp,
    drop_path: f64,
}

impl Block {
    fn new(p: nn::Path, cfg: &VisionConfig, stage: usize, spatial: bool, drop_path: f64) -> Self {
        let dim = cfg.dim_embed[stage];
        let mixer_p = if spatial { &p / "window_attn" } else { &p / "channel_attn" };
        let fnp = &mixer_p / "fn";
        let mixer = if spatial {
            Mixer::Window(WindowAttention {
                qkv: linear(&fnp / "qkv", dim, 3 * dim),
                proj: linear(&fnp / "proj", dim, dim),
                heads: cfg.num_heads[stage],
                window: cfg.window_size,
            })
        } else {
            Mixer::Channel(ChannelAttention {
                qkv: linear(&fnp / "qkv", dim, 3 * dim),
                proj: linear(&fnp / "proj", dim, dim),
                groups: cfg.num_groups[stage],
            })
        };
        let hidden = (dim as f64 * cfg.mlp_ratio) as i64;
        Self {
            conv1: DwConv::new(&p / "conv1", dim),
            attn_norm: layer_norm(&mixer_p / "norm", dim),
            mixer,
            conv2: DwConv::new(&p / "conv2", dim),
            ffn_norm: layer_norm(&p / "ffn" / "norm", dim),
            ffn: Mlp::new(&p / "ffn" / "fn", dim, hidden),
            drop_path,
        }
    }

    fn forward(&self, x: &Tensor, h: i64, w: i64, train: bool) -> Tensor {
        let x = self.conv1.forward(x, h, w);
        let a = self.attn_norm.forward(&x);
        let a = match &self.mixer {
            Mixer::Window(m) => m.forward(&a, h, w),
            Mixer::Channel(m) => m.forward(&a),
        };
        let x = &x + drop_path(a, self.drop_path, train);
        let x = self.conv2.forward(&x, h, w);
        let f = self.ffn.forward(&self.ffn_norm.forward(&x));
        &x + drop_path(f, self.drop_path, train)
    }
}

pub struct DaViT {
    convs: Vec<ConvEmbed>,
    /// Per stage: spatial, channel, spatial, channel, ...
    blocks: Vec<Vec<Block>>,
    /// Gradient checkpointing of every block in training (crate::recompute).
    pub recompute: bool,
}

impl DaViT {
    pub fn new(p: nn::Path, cfg: &VisionConfig) -> Self {
        let total: i64 = cfg.depths.iter().sum::<i64>() * 2;
        let dpr = |i: i64| if total > 1 { cfg.drop_path_rate * i as f64 / (total - 1) as f64 } else { 0.0 };
        let mut convs = Vec::new();
        let mut blocks = Vec::new();
        let mut offset = 0;
        for s in 0..cfg.depths.len() {
            let cin = if s == 0 { 3 } else { cfg.dim_embed[s - 1] };
            convs.push(ConvEmbed::new(
                &p / "convs" / s,
                cin,
                cfg.dim_embed[s],
                cfg.patch_size[s],
                cfg.patch_stride[s],
                cfg.patch_padding[s],
                cfg.patch_prenorm[s],
            ));
            let mut stage = Vec::new();
            for b in 0..cfg.depths[s] {
                let bp = &p / "blocks" / s / b;
                stage.push(Block::new(&bp / "spatial_block", cfg, s, true, dpr(offset + 2 * b)));
                stage.push(Block::new(&bp / "channel_block", cfg, s, false, dpr(offset + 2 * b + 1)));
            }
            offset += 2 * cfg.depths[s];
            blocks.push(stage);
        }
        Self { convs, blocks, recompute: false }
    }

    /// Pixels [B, 3, R, R] (normalised) → tokens [B, (R/32)², C_last], grid side R/32.
    pub fn forward(&self, pixels: &Tensor, train: bool) -> (Tensor, i64, i64) {
        let (mut x, mut h, mut w) = self.convs[0].forward(pixels, None);
        for (s, stage) in self.blocks.iter().enumerate() {
            if s > 0 {
                (x, h, w) = self.convs[s].forward(&x, Some((h, w)));
            }
            for blk in stage {
                x = maybe_checkpoint(self.recompute && train, x, move |x| blk.forward(x, h, w, train));
            }
        }
        (x, h, w)
    }
}
