//! Florence-2's tokenizer: BART's byte-level BPE from `tokenizer.json` (or `vocab.json` +
//! `merges.txt`) with the 1024 tokens Florence2Processor adds at run time, in its order
//! (florence2.md §4.2), and the task prompts (§4.3).

use lmmrotate_abi::{ErrorKind, PluginError};
use std::path::{Path, PathBuf};
use tokenizers::{
    decoders::byte_level::ByteLevel as ByteLevelDecoder,
    models::bpe::BPE,
    pre_tokenizers::byte_level::ByteLevel,
    processors::roberta::RobertaProcessing,
    AddedToken, Tokenizer,
};

/// The tokens Florence2Processor adds, in order: `<od>` … `<loc_0>` … `<loc_999>` … `<and>`.
pub fn florence_tokens() -> Vec<String> {
    let mut t: Vec<String> = ["<od>", "</od>", "<ocr>", "</ocr>"].iter().map(|s| s.to_string()).collect();
    t.extend((0..1000).map(|i| format!("<loc_{i}>")));
    t.extend(
        [
            "<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>", "<seg>", "</seg>",
            "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>", "</region_to_desciption>", "<proposal>",
            "</proposal>", "<poly>", "</poly>", "<and>",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    t
}

/// Task tokens and the prompts they stand for; `{input}` is the text after the task token.
const TASKS: [(&str, &str); 16] = [
    ("<OD>", "Locate the objects with category name in the image."),
    ("<ROD>", "Locate the objects tightly with quad boxes and category names in the image."),
    ("<CAPTION>", "What does the image describe?"),
    ("<DETAILED_CAPTION>", "Describe in detail what is shown in the image."),
    ("<MORE_DETAILED_CAPTION>", "Describe with a paragraph what is shown in the image."),
    ("<OCR>", "What is the text in the image?"),
    ("<OCR_WITH_REGION>", "What is the text in the image, with regions?"),
    ("<DENSE_REGION_CAPTION>", "Locate the objects in the image, with their descriptions."),
    ("<REGION_PROPOSAL>", "Locate the region proposals in the image."),
    ("<CAPTION_TO_PHRASE_GROUNDING>", "Locate the phrases in the caption: {input}"),
    ("<OPEN_VOCABULARY_DETECTION>", "Locate {input} in the image."),
    ("<REFERRING_EXPRESSION_SEGMENTATION>", "Locate {input} in the image with mask"),
    ("<REGION_TO_SEGMENTATION>", "What is the polygon mask of region {input}"),
    ("<REGION_TO_CATEGORY>", "What is the region {input}?"),
    ("<REGION_TO_DESCRIPTION>", "What does the region {input} describe?"),
    ("<REGION_TO_OCR>", "What text is in the region {input}?"),
];

/// The text the model is given for `prompt`: a task token (with its input) is expanded; any other
/// text is used as it is.
pub fn expand_prompt(prompt: &str) -> Result<String, PluginError> {
    for (task, text) in TASKS {
        if let Some(input) = prompt.strip_prefix(task) {
            return if text.contains("{input}") {
                Ok(text.replace("{input}", input))
            } else if input.is_empty() {
                Ok(text.to_string())
            } else {
                Err(PluginError::new(ErrorKind::INVALID_CONFIG, format!("task {task} takes no input, got {input:?}")))
            };
        }
    }
    Ok(prompt.to_string())
}

pub struct FlorenceTokenizer {
    inner: Tokenizer,
    /// Id of `<loc_0>`.
    pub loc0: u32,
}

fn terr(msg: String) -> PluginError {
    PluginError::new(ErrorKind::PARSE, msg)
}

impl FlorenceTokenizer {
    /// `path`: a folder with `tokenizer.json` or `vocab.json` + `merges.txt`, or a tokenizer file.
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        let json = if path.is_file() { path.to_path_buf() } else { path.join("tokenizer.json") };
        let tok = if json.is_file() {
            Tokenizer::from_file(&json).map_err(|e| terr(format!("{}: {e}", json.display())))?
        } else {
            let (vocab, merges) = (path.join("vocab.json"), path.join("merges.txt"));
            if !vocab.is_file() || !merges.is_file() {
                return Err(PluginError::new(
                    ErrorKind::IO,
                    format!("{}: no tokenizer.json, nor vocab.json + merges.txt", path.display()),
                ));
            }
            let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
                .build()
                .map_err(|e| terr(format!("{}: {e}", vocab.display())))?;
            let mut t = Tokenizer::new(bpe);
            t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
            t.with_decoder(Some(ByteLevelDecoder::default()));
            t.with_post_processor(Some(RobertaProcessing::new(("</s>".into(), 2), ("<s>".into(), 0)).trim_offsets(false)));
            t
        };
        Self::from_tokenizer(tok, &path.display().to_string())
    }

    fn from_tokenizer(mut inner: Tokenizer, source: &str) -> Result<Self, PluginError> {
        for (tok, id) in [("<s>", 0), ("<pad>", 1), ("</s>", 2)] {
            if inner.token_to_id(tok) != Some(id) {
                return Err(terr(format!("{source}: `{tok}` must have id {id} (BART layout)")));
            }
        }
        let added: Vec<AddedToken> =
            florence_tokens().into_iter().map(|t| AddedToken::from(t, true)).collect();
        inner.add_special_tokens(&added);
        let loc0 = inner.token_to_id("<loc_0>").expect("just added");
        // The tokens must be contiguous, in upstream order (true when the file did not have them,
        // or had exactly them).
        for (i, t) in florence_tokens().iter().enumerate() {
            if inner.token_to_id(t) != Some(loc0 - 4 + i as u32) {
                return Err(terr(format!("{source}: Florence-2 token `{t}` is out of order")));
            }
        }
        Ok(Self { inner, loc0 })
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text`, with `<s>` … `</s>` when `special`.
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, PluginError> {
        let e = self.inner.encode(text, special).map_err(|e| terr(format!("tokenising {text:?}: {e}")))?;
        Ok(e.get_ids().to_vec())
    }

    /// Ids of many texts, tokenised in parallel (the tokenizers library's batch encoding).
    pub fn encode_batch(&self, texts: Vec<String>, special: bool) -> Result<Vec<Vec<u32>>, PluginError> {
        let enc = self.inner.encode_batch(texts, special).map_err(|e| terr(format!("tokenising a batch: {e}")))?;
        Ok(enc.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// Text of `ids` with special tokens kept (upstream decodes with skip_special_tokens=False).
    pub fn decode(&self, ids: &[u32]) -> Result<String, PluginError> {
        self.inner.decode(ids, false).map_err(|e| terr(format!("decoding ids: {e}")))
    }

    pub fn save(&self, dir: &Path) -> Result<PathBuf, PluginError> {
        let path = dir.join("tokenizer.json");
        self.inner.save(&path, false).map_err(|e| PluginError::new(ErrorKind::IO, format!("{}: {e}", path.display())))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_tokens_expand_as_upstream() {
        assert_eq!(
            expand_prompt("<ROD>").unwrap(),
            "Locate the objects tightly with quad boxes and category names in the image."
        );
        assert_eq!(expand_prompt("<OPEN_VOCABULARY_DETECTION>plane").unwrap(), "Locate plane in the image.");
        assert!(expand_prompt("<OD>x").is_err());
        assert_eq!(expand_prompt("free text").unwrap(), "free text");
        assert_eq!(florence_tokens().len(), 1024);
        assert_eq!(florence_tokens()[1014], "<sep>");
    }
}
