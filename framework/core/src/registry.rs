//! `registry.toml`: the ABI the host expects, where plugin libraries live, the plugins by kind
//! and name, and the eval-matrix tables. Parsing checks everything that can be checked without
//! loading a library, and every error names the file and line.

use crate::error::{CoreError, Result};
use lmmrotate_abi::PluginKind;
use serde::Deserialize;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};
use toml::Spanned;

/// One `[[plugin]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub kind: PluginKind,
    /// The CLI name (`--model florence2`).
    pub name: String,
    /// Library file stem (`lmmrotate_format_florence2` → `liblmmrotate_format_florence2.so`).
    pub lib: String,
    /// Entry name inside the library; defaults to `name`.
    pub entry: String,
    /// The entry's config, as the JSON object handed to the plugin (`{}` when absent).
    pub config: serde_json::Value,
    /// Formats a model can emit (models only; empty = any).
    pub formats: Vec<String>,
    pub description: String,
    /// Line of the `[[plugin]]` entry in the registry file.
    pub line: usize,
}

/// One `[[matrix]]` table: every model × dataset × format (× split) is a cell.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSpec {
    pub models: Vec<String>,
    pub datasets: Vec<String>,
    pub formats: Vec<String>,
    #[serde(default)]
    pub splits: Vec<String>,
    /// Checkpoint per model name (falls back to the model's registry config).
    #[serde(default)]
    pub checkpoints: BTreeMap<String, String>,
    /// Dataset root per dataset name (`{ synthetic = "demo-out/data/test" }`), relative to the
    /// folder lmmrotate runs in; falls back to the dataset's registry config.
    #[serde(default)]
    pub dataset_roots: BTreeMap<String, String>,
    /// Eval options for every cell of this table (e.g. `clip_num = 20`); the keys are
    /// [`crate::matrix::CELL_OPTIONS`].
    #[serde(default)]
    pub overrides: BTreeMap<String, toml::Value>,
    /// Line of the `[[matrix]]` header in the registry file.
    #[serde(skip)]
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Registry {
    pub path: PathBuf,
    /// The ABI requirement (`abi = "0.1"`, caret rules).
    pub abi: semver::VersionReq,
    pub abi_text: String,
    pub plugin_dir: PathBuf,
    pub plugins: Vec<PluginSpec>,
    pub matrix: Vec<MatrixSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    abi: Spanned<String>,
    plugin_dir: Option<String>,
    #[serde(default)]
    plugin: Vec<Spanned<RawPlugin>>,
    #[serde(default)]
    matrix: Vec<Spanned<MatrixSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    kind: Spanned<String>,
    name: Spanned<String>,
    lib: String,
    entry: Option<String>,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    formats: Vec<String>,
    #[serde(default)]
    description: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

impl Registry {
    /// Reads a registry file. `plugin_dir_override` (from `--plugin-dir` or
    /// `LMMROTATE_PLUGIN_DIR`) replaces the file's `plugin_dir`.
    pub fn load(path: &Path, plugin_dir_override: Option<&Path>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CoreError::io(path, e))?;
        Self::parse(&text, path, plugin_dir_override)
    }

    pub fn parse(text: &str, path: &Path, plugin_dir_override: Option<&Path>) -> Result<Self> {
        let err = |line: Option<usize>, message: String| CoreError::Registry {
            path: path.to_path_buf(),
            message: match line {
                Some(l) => format!("line {l}: {message}"),
                None => message,
            },
        };
        let raw: RawRegistry = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            err(line, e.message().to_string())
        })?;

        let abi_line = line_of(text, raw.abi.span().start);
        let abi_text = raw.abi.into_inner();
        let abi = semver::VersionReq::parse(&format!("^{abi_text}"))
            .map_err(|e| err(Some(abi_line), format!("abi = \"{abi_text}\" is not a version: {e}")))?;
        let host_abi = semver::Version::parse(lmmrotate_abi::ABI_VERSION).expect("ABI_VERSION is semver");
        if !abi.matches(&host_abi) {
            return Err(err(
                Some(abi_line),
                format!(
                    "the registry asks for plugin ABI {abi_text}, but this lmmrotate speaks ABI {}",
                    lmmrotate_abi::ABI_VERSION
                ),
            ));
        }

        let base = path.parent().unwrap_or(Path::new("."));
        let plugin_dir = match plugin_dir_override {
            Some(d) => d.to_path_buf(),
            None => base.join(raw.plugin_dir.as_deref().unwrap_or("target/release")),
        };

        let mut plugins: Vec<PluginSpec> = Vec::new();
        for spanned in raw.plugin {
            let line = line_of(text, spanned.span().start);
            let p = spanned.into_inner();
            let kind_line = line_of(text, p.kind.span().start);
            let kind = PluginKind::parse(p.kind.get_ref()).ok_or_else(|| {
                err(Some(kind_line), format!("unknown plugin kind `{}` (kinds: model, format, dataset)", p.kind.get_ref()))
            })?;
            let name_line = line_of(text, p.name.span().start);
            let name = p.name.into_inner();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(err(Some(name_line), format!("plugin name `{name}` must be non-empty, without spaces")));
            }
            if let Some(first) = plugins.iter().find(|q| q.kind == kind && q.name == name) {
                return Err(err(
                    Some(name_line),
                    format!("duplicate {} name `{name}` (first defined at line {})", kind.as_str(), first.line),
                ));
            }
            if p.lib.is_empty() {
                return Err(err(Some(line), format!("plugin `{name}`: `lib` is empty")));
            }
            if !p.formats.is_empty() && kind != PluginKind::Model {
                return Err(err(Some(line), format!("plugin `{name}`: only models take `formats`")));
            }
            let config = serde_json::to_value(&p.config)
                .map_err(|e| err(Some(line), format!("plugin `{name}`: config is not representable as JSON: {e}")))?;
            plugins.push(PluginSpec {
                kind,
                entry: p.entry.unwrap_or_else(|| name.clone()),
                name,
                lib: p.lib,
                config,
                formats: p.formats,
                description: p.description,
                line,
            });
        }

        let mut matrix = Vec::new();
        for spanned in raw.matrix {
            let line = line_of(text, spanned.span().start);
            let mut m = spanned.into_inner();
            m.line = line;
            for (kind, names) in [
                (PluginKind::Model, &m.models),
                (PluginKind::Dataset, &m.datasets),
                (PluginKind::Format, &m.formats),
            ] {
                for n in names {
                    if !plugins.iter().any(|p| p.kind == kind && &p.name == n) {
                        let available = names_of(&plugins, kind);
                        return Err(err(
                            Some(line),
                            format!("[[matrix]]: unknown {} `{n}` (available: {})", kind.as_str(), available.join(", ")),
                        ));
                    }
                }
            }
            for (key, names, what) in [
                ("checkpoints", m.checkpoints.keys().collect::<Vec<_>>(), &m.models),
                ("dataset_roots", m.dataset_roots.keys().collect(), &m.datasets),
            ] {
                if let Some(n) = names.into_iter().find(|n| !what.contains(n)) {
                    return Err(err(Some(line), format!("[[matrix]]: {key} names `{n}`, which is not in this table (it has: {})", what.join(", "))));
                }
            }
            for (key, value) in &m.overrides {
                crate::matrix::check_option(key, value).map_err(|e| err(Some(line), format!("[[matrix]]: overrides: {e}")))?;
            }
            matrix.push(m);
        }

        Ok(Registry { path: path.to_path_buf(), abi, abi_text, plugin_dir, plugins, matrix })
    }

    /// The plugin of that kind and name, or an error listing the registered ones.
    pub fn find(&self, kind: PluginKind, name: &str) -> Result<&PluginSpec> {
        self.plugins.iter().find(|p| p.kind == kind && p.name == name).ok_or_else(|| CoreError::UnknownPlugin {
            kind,
            name: name.to_string(),
            available: names_of(&self.plugins, kind),
        })
    }

    pub fn names(&self, kind: PluginKind) -> Vec<String> {
        names_of(&self.plugins, kind)
    }

    /// Where the library of `spec` is expected (`plugin_dir/lib<lib>.so` on Linux).
    pub fn library_path(&self, spec: &PluginSpec) -> PathBuf {
        self.plugin_dir.join(format!("{}{}{}", std::env::consts::DLL_PREFIX, spec.lib, std::env::consts::DLL_SUFFIX))
    }
}

fn names_of(plugins: &[PluginSpec], kind: PluginKind) -> Vec<String> {
    plugins.iter().filter(|p| p.kind == kind).map(|p| p.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Registry> {
        Registry::parse(text, Path::new("/r/registry.toml"), None)
    }

    const GOOD: &str = r#"
abi = "0.1"
plugin_dir = "build"

[[plugin]]
kind = "format"
name = "v2"
lib = "lmmrotate_format_florence2"

[[plugin]]
kind = "model"
name = "florence2"
lib = "lmmrotate_model_florence2_tch"
formats = ["v2"]
config = { variant = "large", image_size = 1024 }

[[matrix]]
models = ["florence2"]
datasets = []
formats = ["v2"]
"#;

    #[test]
    fn parses_plugins_config_and_matrix() {
        let r = parse(GOOD).unwrap();
        assert_eq!(r.plugin_dir, Path::new("/r/build"));
        assert_eq!(r.plugins.len(), 2);
        let m = r.find(PluginKind::Model, "florence2").unwrap();
        assert_eq!(m.entry, "florence2");
        assert_eq!(m.line, 10);
        assert_eq!(m.config, serde_json::json!({"variant": "large", "image_size": 1024}));
        assert_eq!(r.find(PluginKind::Format, "v2").unwrap().config, serde_json::json!({}));
        assert_eq!(r.matrix.len(), 1);
        assert!(r.library_path(m).ends_with("build/liblmmrotate_model_florence2_tch.so"));
    }

    #[test]
    fn bad_toml_names_file_and_line() {
        let e = parse("abi = \"0.1\"\n[[plugin]\nkind = 1").unwrap_err().to_string();
        assert!(e.starts_with("/r/registry.toml: line 2:"), "{e}");
    }

    #[test]
    fn unknown_kind_is_an_error_with_line() {
        let e = parse("abi = \"0.1\"\n[[plugin]]\nkind = \"modle\"\nname = \"x\"\nlib = \"y\"\n").unwrap_err().to_string();
        assert_eq!(e, "/r/registry.toml: line 3: unknown plugin kind `modle` (kinds: model, format, dataset)");
    }

    #[test]
    fn duplicate_name_points_at_both() {
        let text = "abi = \"0.1\"\n[[plugin]]\nkind = \"format\"\nname = \"v2\"\nlib = \"a\"\n[[plugin]]\nkind = \"format\"\nname = \"v2\"\nlib = \"b\"\n";
        let e = parse(text).unwrap_err().to_string();
        assert_eq!(e, "/r/registry.toml: line 8: duplicate format name `v2` (first defined at line 2)");
    }

    #[test]
    fn same_name_in_two_kinds_is_fine() {
        let text = "abi = \"0.1\"\n[[plugin]]\nkind = \"format\"\nname = \"x\"\nlib = \"a\"\n[[plugin]]\nkind = \"dataset\"\nname = \"x\"\nlib = \"b\"\n";
        assert_eq!(parse(text).unwrap().plugins.len(), 2);
    }

    #[test]
    fn missing_lib_key_is_an_error() {
        let e = parse("abi = \"0.1\"\n[[plugin]]\nkind = \"format\"\nname = \"v2\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("missing field `lib`"), "{e}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = parse("abi = \"0.1\"\nplugins_dir = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("unknown field `plugins_dir`"), "{e}");
    }

    #[test]
    fn abi_requirement_must_match_host() {
        let e = parse("abi = \"0.2\"\n").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("asks for plugin ABI 0.2"), "{e}");
        assert!(parse("abi = \"0.1.0\"\n").is_ok());
    }

    #[test]
    fn unknown_name_lists_available() {
        let r = parse(GOOD).unwrap();
        let e = r.find(PluginKind::Format, "v4").unwrap_err().to_string();
        assert_eq!(e, "unknown format `v4` (available: v2)");
    }

    #[test]
    fn matrix_roots_checkpoints_and_overrides() {
        let text = GOOD.replace(
            "datasets = []\n",
            "datasets = [\"syn\"]\ndataset_roots = { syn = \"data/test\" }\ncheckpoints = { florence2 = \"run\" }\noverrides = { clip_num = 4, device = \"cpu\" }\n",
        ) + "\n[[plugin]]\nkind = \"dataset\"\nname = \"syn\"\nlib = \"d\"\n";
        let r = parse(&text).unwrap();
        let m = &r.matrix[0];
        assert_eq!((m.line, m.dataset_roots["syn"].as_str(), m.checkpoints["florence2"].as_str()), (17, "data/test", "run"));
        assert_eq!(m.overrides["clip_num"].as_integer(), Some(4));

        let e = parse(&text.replace("{ syn = \"data", "{ dior = \"data")).unwrap_err().to_string();
        assert_eq!(e, "/r/registry.toml: line 17: [[matrix]]: dataset_roots names `dior`, which is not in this table (it has: syn)");
        let e = parse(&text.replace("clip_num = 4", "clip_nmu = 4")).unwrap_err().to_string();
        assert!(e.starts_with("/r/registry.toml: line 17: [[matrix]]: overrides: unknown option `clip_nmu` (options: clip_num,"), "{e}");
        let e = parse(&text.replace("clip_num = 4", "clip_num = \"4\"")).unwrap_err().to_string();
        assert!(e.contains("line 17") && e.contains("`clip_num` must be a whole number"), "{e}");
        let e = parse(&text.replace("dataset_roots", "dataset_root")).unwrap_err().to_string();
        assert!(e.contains("line 20") && e.contains("unknown field `dataset_root`"), "{e}");
    }

    #[test]
    fn matrix_names_must_be_registered() {
        let text = GOOD.replace("formats = [\"v2\"]\n", "formats = [\"v9\"]\n");
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("[[matrix]]: unknown format `v9`"), "{e}");
    }
}
