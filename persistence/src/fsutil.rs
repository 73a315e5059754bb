//! File-safety helpers: write to a temp name, fsync, rename over the target,
//! fsync the directory, so a crash at any point leaves the old file or the new
//! one, never a mix.

use std::fs::{self, File};
use std::io;
use std::path::Path;

/// Fsyncs a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(d)?.sync_all()
}

/// Renames `tmp` over `target` and makes the rename durable.
pub fn commit_rename(tmp: &Path, target: &Path) -> io::Result<()> {
    fs::rename(tmp, target)?;
    fsync_dir(target.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_replaces_atomically() {
        let dir = std::env::temp_dir().join(format!("strata-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("dump.rdb");
        fs::write(&target, b"old").unwrap();
        let tmp = dir.join("temp.rdb");
        fs::write(&tmp, b"new").unwrap();
        commit_rename(&tmp, &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert!(!tmp.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
