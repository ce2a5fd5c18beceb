//! PaliGemma's tokenizer: `tokenizer.json` read by the HF tokenizers library (the Gemma
//! SentencePiece-style BPE with `<loc0000>`…`<loc1023>`, `<seg000>`…, `<image>` added).

use lmmrotate_abi::{ErrorKind, PluginError};
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

pub struct PaliGemmaTokenizer {
    inner: Tokenizer,
}

fn terr(msg: String) -> PluginError {
    PluginError::new(ErrorKind::PARSE, msg)
}

impl PaliGemmaTokenizer {
    /// `path`: a folder with `tokenizer.json`, or the file itself.
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        let file = if path.is_file() { path.to_path_buf() } else { path.join("tokenizer.json") };
        if !file.is_file() {
            return Err(PluginError::new(ErrorKind::IO, format!("{}: no tokenizer.json", path.display())));
        }
        let inner = Tokenizer::from_file(&file).map_err(|e| terr(format!("{}: {e}", file.display())))?;
        Ok(Self { inner })
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Ids of `text` without special tokens (the processor builds `<bos>`, `<eos>` itself).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, PluginError> {
        let e = self.inner.encode(text, false).map_err(|e| terr(format!("tokenising {text:?}: {e}")))?;
        Ok(e.get_ids().to_vec())
    }

    /// Ids of many texts, tokenised in parallel.
    pub fn encode_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<u32>>, PluginError> {
        let enc = self.inner.encode_batch(texts, false).map_err(|e| terr(format!("tokenising a batch: {e}")))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Text of `ids` with special tokens kept (formats strip `<eos>` / `<pad>` themselves).
    pub fn decode(&self, ids: &[u32]) -> Result<String, PluginError> {
        self.inner.decode(ids, false).map_err(|e| terr(format!("decoding ids: {e}")))
    }

    pub fn save(&self, dir: &Path) -> Result<PathBuf, PluginError> {
        let path = dir.join("tokenizer.json");
        self.inner.save(&path, false).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}
