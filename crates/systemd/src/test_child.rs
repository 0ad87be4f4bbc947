//! Tests of what a process does with its environment run in a child
//! process: this test binary again, running one `child_mode` test that
//! reads [`MODE`] (the variables are read by the code under test, and a
//! test must not edit its own environment).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};

/// The variable naming what the child does.
pub(crate) const MODE: &str = "WINDDOWN_SYSTEMD_TEST_CHILD";

/// `LISTEN_PID` set to this value becomes the child's own pid.
pub(crate) const OWN_PID: &str = "own";

/// Bound on one child process, from start to exit.
const BOUND: Duration = Duration::from_secs(60);

/// The arguments that run only `test` (`module::tests::child_mode`) of
/// this binary, its output not captured.
pub(crate) fn child_args(test: &str) -> [&str; 5] {
    [test, "--exact", "--nocapture", "--test-threads=1", "-q"]
}

/// Runs `test` in a child process with `MODE=mode`, `env` and, when
/// given, `fd3` as its descriptor 3; the exit status and the output
/// (stdout, then stderr). The systemd variables of this process are not
/// passed on; the child's address space is limited to 4 GB, so that a
/// huge allocation fails at once instead of pressing the machine.
///
/// # Panics
///
/// When the child does not exit within a minute (it is killed).
pub(crate) fn run(
    test: &str,
    mode: &str,
    env: &[(&str, &str)],
    fd3: Option<OwnedFd>,
) -> (ExitStatus, String) {
    let script = format!(
        "ulimit -v 4000000; if [ \"${{LISTEN_PID-}}\" = {OWN_PID} ]; then LISTEN_PID=$$; \
         export LISTEN_PID; fi; exec \"$0\" \"$@\""
    );
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .arg(std::env::current_exe().unwrap())
        .args(child_args(test))
        .env(MODE, mode)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDS_FIRST_FD",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        crate::handoff::HANDOFF_SOCKET_ENV,
        crate::handoff::HANDOFF_PID_ENV,
    ] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    if let Some(fd) = fd3 {
        command
            .fd_mappings(vec![FdMapping {
                parent_fd: fd,
                child_fd: 3,
            }])
            .unwrap();
    }
    let mut child = command.spawn().unwrap();
    let (sender, outputs) = mpsc::channel();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for (index, mut pipe) in pipes.into_iter().enumerate() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            let _ = sender.send((index, text));
        });
    }
    // Both pipes close when the child exits (nothing it starts outlives
    // it): its whole output, within the bound.
    let mut texts = [String::new(), String::new()];
    for _ in 0..2 {
        match outputs.recv_timeout(BOUND) {
            Ok((index, text)) => texts[index] = text,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the child ({mode}) did not exit within {BOUND:?}: {texts:?}");
            }
        }
    }
    let status = child.wait().unwrap();
    (status, texts.concat())
}
