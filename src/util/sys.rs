//! The system calls lockstep makes that neither std nor rustix offers safely, each behind a safe
//! function with the reason it is sound; everything else calls rustix directly. This module and
//! [`crate::util::par`]'s `malloc_trim` are the only `unsafe` in the library (the crate denies
//! `unsafe_code` everywhere else).

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

pub use rustix::process::Signal;

/// Ignores SIGHUP from now on: a terminal that closes does not stop this process (nor the
/// children it starts later, which inherit the disposition).
pub fn ignore_hangup() {
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler and has no
    // preconditions; it only changes how this process reacts to its terminal closing.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Ignores SIGPIPE from now on: a write to a closed pipe fails with `EPIPE` instead of ending
/// the process.
pub fn ignore_broken_pipe() {
    // SAFETY: as in [`ignore_hangup`]: SIG_IGN installs no handler and has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Sends `signal` to the process group `group`; a group that has exited already (`ESRCH`) and
/// any other failure are ignored, as is a group id that is not a valid pid.
pub fn signal_group(group: u32, signal: Signal) {
    if let Some(group) = i32::try_from(group)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(group, signal);
    }
}

/// A pipe a detached child waits on before it runs its command: the child reads one line from
/// descriptor 3, which arrives when [`Gate::open`] is called (or reads end-of-file once the
/// gate is dropped). Neither end is close-on-exec; the child holds only the read end.
pub struct Gate {
    read: Option<OwnedFd>,
    write: Cell<Option<OwnedFd>>,
}

impl Gate {
    /// A new, closed gate.
    ///
    /// # Errors
    /// When the pipe cannot be created (out of descriptors).
    pub fn new() -> std::io::Result<Self> {
        let (read, write) = rustix::pipe::pipe()?;
        Ok(Self {
            read: Some(read),
            write: Cell::new(Some(write)),
        })
    }

    /// Spawns `cmd` detached behind the gate: in a session of its own, with SIGHUP ignored, the
    /// gate's read end as its descriptor 3 and without the write end. The parent's copy of the
    /// read end is closed afterwards, whether the spawn succeeded or not.
    ///
    /// # Errors
    /// As [`Command::spawn`]; an error too when this gate spawned a child already.
    pub fn spawn_detached(&mut self, cmd: &mut Command) -> std::io::Result<Child> {
        let Some(read) = self.read.take() else {
            return Err(std::io::Error::other("the gate was used already"));
        };
        let gate_read: RawFd = read.as_raw_fd();
        let write = self.write.take();
        let gate_write: Option<RawFd> = write.as_ref().map(AsRawFd::as_raw_fd);
        self.write.set(write);
        // SAFETY: close, dup2, setsid and signal are async-signal-safe and nothing else runs
        // between fork and exec. The descriptors are this gate's own, open in the parent for the
        // whole spawn (`read` is dropped after it, `write` only in `open` or on drop), so in the
        // child they name the pipe and nothing else.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(gate_write) = gate_write {
                    libc::close(gate_write);
                }
                if gate_read != 3 {
                    libc::dup2(gate_read, 3);
                    libc::close(gate_read);
                }
                libc::setsid();
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                Ok(())
            });
        }
        let spawned = cmd.spawn();
        // the parent's copy of the read end is no longer needed
        drop(read);
        spawned
    }

    /// Lets the child go on: writes one line to the gate and closes it. A second call does
    /// nothing; a failed write is ignored (the child then reads end-of-file, and goes on too).
    pub fn open(&self) {
        if let Some(write) = self.write.take() {
            let _ = rustix::io::write(&write, b"g\n");
        }
    }
}
