//! Writing a node_exporter textfile atomically.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many random characters the temporary file's name carries.
const RANDOM_CHARS: usize = 16;
/// The end of the temporary file's name.
const TEMPORARY_SUFFIX: &str = ".tmp";
/// The longest file name (in bytes) of the usual Linux file systems (ext4,
/// XFS, Btrfs, tmpfs).
const NAME_MAX: usize = 255;

/// Writes `contents` to `path` atomically, for node_exporter's textfile
/// collector (`--collector.textfile.directory`).
///
/// The text goes to a new temporary file in the same directory, is flushed
/// to disk (`fsync`), then renamed over `path`, and the directory is synced.
/// A reader therefore sees either the old file or the new one, never half of
/// it, even across a crash. The directory must exist. The file stays after
/// the process exits, so node_exporter keeps exposing the last shutdown's
/// figures until the next one replaces them; it is readable by all
/// (`0644` before the umask), as the collector often runs as another user.
///
/// # Safe in a shared directory
///
/// The textfile directory is often writable by other users and services.
/// The temporary file gets an unpredictable name (`.<file name>.<random>.tmp`,
/// which the collector ignores since it reads `*.prom` only; the file name
/// cut short if the whole would pass 255 bytes) and is created
/// exclusively (`O_CREAT | O_EXCL`, through the `tempfile` crate): if
/// anything already exists under that name, a symbolic link planted by
/// someone else included, another name is drawn; no link is ever followed.
/// The rename then replaces `path` itself, so a symbolic link planted at
/// `path` is replaced by the new regular file, and whatever it pointed to is
/// left untouched.
///
/// Blocking I/O: from async code call it inside
/// `tokio::task::spawn_blocking` ([`FinalExport`](crate::FinalExport) does).
///
/// # Errors
///
/// The I/O error, with the path in its message (control characters
/// escaped, so a file name cannot forge a log line); the temporary file is
/// removed.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("winddown-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("orders.prom");
/// winddown_prometheus::write_textfile(&path, "winddown_state 3\n")?;
/// assert_eq!(std::fs::read_to_string(&path)?, "winddown_state 3\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn write_textfile(path: impl AsRef<Path>, contents: &str) -> io::Result<()> {
    let path = path.as_ref();
    // The path is anyone's file name: escaped, it cannot forge a log line.
    let context = |what: &str, at: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", shown_path(at)))
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("textfile path {} has no file name", shown_path(path)),
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let mut builder = tempfile::Builder::new();
    let prefix = temporary_prefix(name);
    builder
        .prefix(&prefix)
        .suffix(TEMPORARY_SUFFIX)
        .rand_bytes(RANDOM_CHARS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut temp = builder
        .tempfile_in(&dir)
        .map_err(|e| context("cannot create a temporary textfile in", &dir, e))?;
    // On any error below, dropping `temp` removes the temporary file.
    let written = temp
        .write_all(contents.as_bytes())
        .and_then(|()| temp.as_file().sync_all());
    if let Err(e) = written {
        return Err(context("cannot write textfile", temp.path(), e));
    }
    temp.persist(path)
        .map_err(|e| context("cannot rename textfile into", path, e.error))?;
    // Make the rename itself durable.
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| context("cannot sync directory", &dir, e))
}

/// A path as messages and logs show it: control characters escaped.
pub(crate) fn shown_path(path: &Path) -> String {
    winddown_core::text::escaped(&path.display().to_string()).into_owned()
}

/// `.<file name>.`, the start of the temporary file's name, cut so that the
/// whole name (with [`RANDOM_CHARS`] and [`TEMPORARY_SUFFIX`]) stays within
/// [`NAME_MAX`]: a target name of up to 255 bytes must not make the
/// temporary one too long.
fn temporary_prefix(name: &OsStr) -> OsString {
    let room = NAME_MAX - ".".len() - ".".len() - RANDOM_CHARS - TEMPORARY_SUFFIX.len();
    let mut prefix = OsString::from(".");
    if name.len() <= room {
        prefix.push(name);
    } else {
        // Only for a reader's eyes: the random part makes the name unique.
        let lossy = name.to_string_lossy();
        let mut end = room;
        while !lossy.is_char_boundary(end) {
            end -= 1;
        }
        prefix.push(&lossy[..end]);
    }
    prefix.push(".");
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory of its own (created exclusively), removed when dropped.
    fn temp_dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("winddown-textfile-{name}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let scratch = temp_dir("replace");
        let dir = scratch.path().to_path_buf();
        let path = dir.join("svc.prom");
        fs::write(&path, "old 1\n").unwrap();
        write_textfile(&path, "new 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new 2\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["svc.prom"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_of_up_to_255_bytes_is_written() {
        let scratch = temp_dir("long");
        let dir = scratch.path().to_path_buf();
        let mut names: Vec<OsString> = [233, 234, 240, 254, 255]
            .into_iter()
            .map(|len| format!("{}.prom", "a".repeat(len - ".prom".len())).into())
            .collect();
        // 125 × "é" (2 bytes) + ".prom" = 255 bytes: the cut falls inside
        // a character.
        names.push(format!("{}.prom", "é".repeat(125)).into());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let mut bytes = vec![0xff; 250];
            bytes.extend_from_slice(b".prom");
            names.push(OsString::from_vec(bytes));
        }
        for name in names {
            assert!(name.len() <= NAME_MAX, "{name:?}");
            let path = dir.join(&name);
            write_textfile(&path, "x 1\n").unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
            assert_eq!(fs::read_to_string(&path).unwrap(), "x 1\n");
            let left: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, std::slice::from_ref(&name));
            fs::remove_file(&path).unwrap();
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_temporary_name_keeps_the_file_name_while_it_fits() {
        assert_eq!(temporary_prefix(OsStr::new("svc.prom")), ".svc.prom.");
        let name = "a".repeat(255);
        let prefix = temporary_prefix(OsStr::new(&name));
        assert_eq!(
            prefix.len() + RANDOM_CHARS + TEMPORARY_SUFFIX.len(),
            NAME_MAX
        );
        assert_eq!(prefix, format!(".{}.", "a".repeat(233)).as_str());
        let name = "é".repeat(127);
        let prefix = temporary_prefix(OsStr::new(&name)).into_string().unwrap();
        assert_eq!(prefix, format!(".{}.", "é".repeat(116)));
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let scratch = temp_dir("missing");
        let dir = scratch.path().to_path_buf();
        let path = dir.join("nope").join("svc.prom");
        let err = write_textfile(&path, "x 1\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().starts_with(&format!(
                "cannot create a temporary textfile in {}: ",
                dir.join("nope").display()
            )),
            "{err}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
