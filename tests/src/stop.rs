//! A stop flag for threads that loop until the test's own thread says so.

use std::sync::atomic::{AtomicBool, Ordering};

/// Raises a stop flag when dropped: at the end of the test's scope, and also when the test's
/// own thread panics. Without it, a failed assertion there would leave the looping threads
/// running and `std::thread::scope` waiting on them until CI gave up, instead of failing.
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl StopOnDrop<'_> {
    /// Raises the flag now.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn a_panic_on_the_driving_thread_stops_the_loopers() {
        let stop = AtomicBool::new(false);
        let looper_saw_stop = AtomicBool::new(false);
        let outcome = std::panic::catch_unwind(|| {
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let give_up = Instant::now() + Duration::from_secs(30);
                    while Instant::now() < give_up {
                        if stop.load(Ordering::SeqCst) {
                            looper_saw_stop.store(true, Ordering::SeqCst);
                            return;
                        }
                        std::thread::yield_now();
                    }
                });
                let _stop = StopOnDrop(&stop);
                panic!("an assertion of the test failed (as this test means it to)");
            })
        });
        assert!(outcome.is_err());
        assert!(looper_saw_stop.load(Ordering::SeqCst));
    }
}
