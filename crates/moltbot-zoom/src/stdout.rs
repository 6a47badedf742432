//! Standard output that a closed pipe cannot crash: `moltbot-zoom demo | head -2`
//! must stop quietly, not panic in `println!`.
//!
//! Commands print through [`outln!`](crate::outln), which returns an error when
//! stdout is gone; a broken pipe becomes [`StdoutClosed`], which `main` turns
//! into a silent successful exit (what `head` expects of the writer before it).

use std::io::{self, Write};

/// Standard output was closed by the reader (EPIPE).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
pub(crate) struct StdoutClosed;

/// Writes `args` and a newline to stdout.
///
/// # Errors
/// [`StdoutClosed`] when the reader went away; other write errors as they are.
pub(crate) fn line(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(closed_or)
}

/// Maps a broken pipe to [`StdoutClosed`].
pub(crate) fn closed_or(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        StdoutClosed.into()
    } else {
        anyhow::Error::new(e).context("cannot write to standard output")
    }
}

/// Whether `e` (or its cause) is [`StdoutClosed`]. Other broken pipes (a socket)
/// are real errors.
pub(crate) fn is_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<StdoutClosed>())
}

/// `println!` that returns `anyhow::Result<()>` instead of panicking.
macro_rules! outln {
    () => { $crate::stdout::line(format_args!("")) };
    ($($arg:tt)*) => { $crate::stdout::line(format_args!($($arg)*)) };
}
pub(crate) use outln;
