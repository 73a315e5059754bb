//! The AOF directory (`appenddirname`): which files exist, and the atomic
//! steps Redis 7 takes on them.
//!
//! Every change of the file set is a manifest swap: the new manifest is
//! written to a temp file, fsynced, renamed over `<prefix>.manifest`, and the
//! directory fsynced. A crash at any point leaves either the old or the new
//! manifest, each naming files that exist, so the directory always loads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::manifest::{base_name, incr_name, manifest_name, AofFile, FileType, Manifest};
use crate::fsutil;

pub struct AofDir {
    pub dir: PathBuf,
    /// `appendfilename`, the prefix of every file name.
    pub prefix: String,
    pub manifest: Manifest,
}

impl AofDir {
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(manifest_name(&self.prefix))
    }

    pub fn path_of(&self, f: &AofFile) -> PathBuf {
        self.dir.join(&f.name)
    }

    /// Opens an existing directory; None if it has no manifest.
    pub fn open(dir: &Path, prefix: &str) -> Result<Option<AofDir>, String> {
        let path = dir.join(manifest_name(prefix));
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(format!(
                    "Can't open the AOF manifest file {}: {e}",
                    path.display()
                ))
            }
        };
        let manifest = Manifest::parse(&text).map_err(|e| format!("{e} in {}", path.display()))?;
        Ok(Some(AofDir {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            manifest,
        }))
    }

    /// A new, empty layout (the directory is created if needed; no files yet).
    pub fn create(dir: &Path, prefix: &str) -> io::Result<AofDir> {
        fs::create_dir_all(dir)?;
        Ok(AofDir {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            manifest: Manifest::default(),
        })
    }

    /// Writes the manifest atomically.
    pub fn persist_manifest(&self) -> io::Result<()> {
        let target = self.manifest_path();
        let tmp = self
            .dir
            .join(format!("temp-{}", manifest_name(&self.prefix)));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(self.manifest.format().as_bytes())?;
            f.sync_all()?;
        }
        fsutil::commit_rename(&tmp, &target)
    }

    /// The sequence number the next base file gets.
    pub fn next_base_seq(&self) -> u64 {
        self.manifest.base.as_ref().map_or(1, |b| b.seq + 1)
    }

    /// Opens a new incr file (created empty, fsynced) and records it in the
    /// manifest (persisted). Returns its handle for appending.
    pub fn open_new_incr(&mut self) -> io::Result<File> {
        let seq = self.manifest.last_incr_seq() + 1;
        let name = incr_name(&self.prefix, seq);
        let path = self.dir.join(&name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.sync_all()?;
        fsutil::fsync_dir(&self.dir)?;
        self.manifest.incrs.push(AofFile {
            name,
            seq,
            kind: FileType::Incr,
        });
        self.persist_manifest()?;
        Ok(file)
    }

    /// Opens a new incr file (created empty, fsynced) that the manifest does
    /// not name yet: while AOF is being turned on, the manifest may still
    /// describe an old dataset, and must not gain writes until the new base
    /// is committed with it (`commit_rewrite`'s `pending`). A leftover file
    /// of that name (from a crash) is replaced.
    pub fn open_unrecorded_incr(&mut self) -> io::Result<(AofFile, File)> {
        let seq = self.manifest.last_incr_seq() + 1;
        let name = incr_name(&self.prefix, seq);
        let path = self.dir.join(&name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        file.sync_all()?;
        fsutil::fsync_dir(&self.dir)?;
        let f = AofFile {
            name,
            seq,
            kind: FileType::Incr,
        };
        Ok((f, file))
    }

    /// Name and path for a new base file.
    pub fn new_base_path(&self, rdb: bool) -> (String, PathBuf) {
        let name = base_name(&self.prefix, self.next_base_seq(), rdb);
        let path = self.dir.join(&name);
        (name, path)
    }

    /// After a rewrite: `base_name` (already written and fsynced) replaces the
    /// old base, and every incr file before `keep_from_seq` becomes history.
    /// `pending`: an unrecorded incr file (`open_unrecorded_incr`) that joins
    /// the manifest with the new base. The manifest is swapped atomically,
    /// then history files are deleted.
    pub fn commit_rewrite(
        &mut self,
        base: String,
        keep_from_seq: u64,
        pending: Option<AofFile>,
    ) -> io::Result<()> {
        let seq = self.next_base_seq();
        let mut m = self.manifest.clone();
        m.incrs.extend(pending);
        if let Some(old) = m.base.take() {
            m.history.push(AofFile {
                kind: FileType::History,
                ..old
            });
        }
        let (old_incrs, kept): (Vec<AofFile>, Vec<AofFile>) =
            m.incrs.into_iter().partition(|f| f.seq < keep_from_seq);
        m.history.extend(old_incrs.into_iter().map(|f| AofFile {
            kind: FileType::History,
            ..f
        }));
        m.incrs = kept;
        m.base = Some(AofFile {
            name: base,
            seq,
            kind: FileType::Base,
        });
        self.manifest = m;
        self.persist_manifest()?;
        self.delete_history()
    }

    /// Removes history files and drops them from the manifest.
    pub fn delete_history(&mut self) -> io::Result<()> {
        if self.manifest.history.is_empty() {
            return Ok(());
        }
        for f in std::mem::take(&mut self.manifest.history) {
            let _ = fs::remove_file(self.dir.join(&f.name));
        }
        self.persist_manifest()
    }

    /// Total bytes of the base and incr files (aof_current_size).
    pub fn total_size(&self) -> u64 {
        self.manifest
            .load_order()
            .iter()
            .filter_map(|f| fs::metadata(self.path_of(f)).ok())
            .map(|m| m.len())
            .sum()
    }

    pub fn base_size(&self) -> u64 {
        self.manifest
            .base
            .as_ref()
            .and_then(|f| fs::metadata(self.path_of(f)).ok())
            .map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incr_then_rewrite_swaps_the_manifest() {
        let dir = std::env::temp_dir().join(format!("strata-aofdir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut d = AofDir::create(&dir, "appendonly.aof").unwrap();
        let mut f = d.open_new_incr().unwrap();
        f.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
        let reopened = AofDir::open(&dir, "appendonly.aof").unwrap().unwrap();
        assert_eq!(reopened.manifest.incrs.len(), 1);
        // A rewrite starts a new incr file, then writes a base.
        d.open_new_incr().unwrap();
        let keep = d.manifest.last_incr_seq();
        let (name, path) = d.new_base_path(true);
        fs::write(&path, b"REDIS0010").unwrap();
        d.commit_rewrite(name.clone(), keep, None).unwrap();
        let m = AofDir::open(&dir, "appendonly.aof")
            .unwrap()
            .unwrap()
            .manifest;
        assert_eq!(m.base.unwrap().name, "appendonly.aof.1.base.rdb");
        assert_eq!(m.incrs.len(), 1);
        assert_eq!(m.incrs[0].seq, 2);
        assert!(m.history.is_empty());
        assert!(!dir.join("appendonly.aof.1.incr.aof").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
