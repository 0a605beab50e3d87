//! The guest compiled once per machine, not once per start.
//!
//! Compiling the embedded component with Cranelift costs seconds of CPU and tens of MB of memory at every
//! start, and that memory stays in the process's peak. The first start writes wasmtime's compiled artifact
//! to the data directory; later starts load it (`Component::deserialize`), which takes milliseconds.
//!
//! The file is named after the component's SHA-256 and wasmtime's compatibility hash (wasmtime version and
//! engine settings), so another guest, another wasmtime or other settings never find it. Its first 32 bytes
//! are the SHA-256 of the artifact that follows, checked before loading: a torn or damaged file is compiled
//! again, never run.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

/// Where the component came from at this start: for the start-up log and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Compiled now; no cache directory was given.
    Compiled,
    /// Compiled now and written to the cache for the next start.
    CompiledAndCached,
    /// Loaded from the cache.
    Cached,
}

/// The component `bytes` for `engine`: from `dir`'s cache when a valid artifact is there, else compiled (and
/// written there). A cache that cannot be read or written costs only the compilation, with a warning.
pub fn component(engine: &wasmtime::Engine, bytes: &[u8], dir: Option<&Path>) -> wasmtime::Result<(Component, Source)> {
    let Some(dir) = dir else { return Ok((Component::new(engine, bytes)?, Source::Compiled)) };
    let path = artifact_path(engine, bytes, dir);
    match std::fs::read(&path) {
        Ok(file) => match load(engine, &file) {
            Ok(component) => return Ok((component, Source::Cached)),
            Err(e) => tracing::warn!(file = %path.display(), "compiled guest not usable ({e:#}); compiling again"),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(file = %path.display(), "cannot read the compiled guest ({e}); compiling again"),
    }
    let artifact = engine.precompile_component(bytes)?;
    let source = match store(&path, &artifact) {
        Ok(()) => Source::CompiledAndCached,
        Err(e) => {
            tracing::warn!(
                file = %path.display(),
                "cannot keep the compiled guest ({e}); the next start compiles again"
            );
            Source::Compiled
        }
    };
    Ok((deserialize(engine, &artifact)?, source))
}

/// The cache file of this component on this engine.
fn artifact_path(engine: &wasmtime::Engine, bytes: &[u8], dir: &Path) -> PathBuf {
    let mut compatibility = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compatibility);
    let component = hex::encode(Sha256::digest(bytes));
    dir.join(format!("core-{component}-{:016x}.cwasm", compatibility.finish()))
}

/// The artifact of a cache file whose digest checks out.
fn load(engine: &wasmtime::Engine, file: &[u8]) -> wasmtime::Result<Component> {
    let (digest, artifact) = file.split_at_checked(32).ok_or_else(|| wasmtime::Error::msg("file too short"))?;
    if Sha256::digest(artifact).as_slice() != digest {
        return Err(wasmtime::Error::msg("digest mismatch"));
    }
    deserialize(engine, artifact)
}

/// The component of an artifact that `precompile_component` made: just now in memory, or earlier into a
/// cache file whose digest [`load`] checked.
fn deserialize(engine: &wasmtime::Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be an artifact wasmtime produced, since it maps
    // its code as executable. Both callers pass one: `component` the artifact it just compiled; `load` one
    // that `store` wrote into the data directory, which only the server's user can write (0700, like the
    // database and the sealing key beside it), after checking that it arrived whole. wasmtime itself
    // refuses an artifact of another version or configuration.
    #[allow(unsafe_code)]
    unsafe {
        Component::deserialize(engine, artifact)
    }
}

/// Writes `artifact` behind its digest, replacing any older file of the same name in one step.
fn store(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        crate::files::create_private_dir(dir)?;
    }
    let mut file = Vec::with_capacity(32 + artifact.len());
    file.extend_from_slice(&Sha256::digest(artifact));
    file.extend_from_slice(artifact);
    crate::files::replace_private_file(path, &file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: its preamble (magic, version 0x0d, layer 1) and no sections.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn engine() -> wasmtime::Engine {
        wasmtime::Engine::default()
    }

    /// A second start loads what the first compiled; a damaged file is compiled again and replaced.
    #[test]
    fn compiles_once_then_loads_and_recovers_from_damage() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let bytes = EMPTY_COMPONENT;
        let (_, first) = component(&engine, bytes, Some(dir.path())).unwrap();
        assert_eq!(first, Source::CompiledAndCached);
        let (_, second) = component(&engine, bytes, Some(dir.path())).unwrap();
        assert_eq!(second, Source::Cached);

        let path = artifact_path(&engine, bytes, dir.path());
        let mut file = std::fs::read(&path).unwrap();
        let last = file.len() - 1;
        file[last] ^= 0xff;
        std::fs::write(&path, &file).unwrap();
        let (_, damaged) = component(&engine, bytes, Some(dir.path())).unwrap();
        assert_eq!(damaged, Source::CompiledAndCached);
        let (_, repaired) = component(&engine, bytes, Some(dir.path())).unwrap();
        assert_eq!(repaired, Source::Cached);

        std::fs::write(&path, b"short").unwrap();
        assert_eq!(component(&engine, bytes, Some(dir.path())).unwrap().1, Source::CompiledAndCached);
    }

    /// Another component never finds this one's artifact.
    #[test]
    fn the_file_is_named_after_the_component() {
        let dir = Path::new("cache");
        let engine = engine();
        let a = artifact_path(&engine, EMPTY_COMPONENT, dir);
        let b = artifact_path(&engine, b"\0asm other bytes", dir);
        assert_ne!(a, b);
    }
}
