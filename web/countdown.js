// A countdown to a moment, for waits the server asks for (Retry-After):
// the sign-in form's "Too many attempts — try again in 0:42".

/** clockText formats whole seconds as m:ss (0:42, 1:05, 12:00). */
export function clockText(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * countdown calls tick(remaining seconds) at once and then each second until
 * seconds have passed, then done(). It follows the wall clock, so a
 * throttled background tab catches up instead of drifting. It returns a
 * function that stops it without calling done.
 */
export function countdown(seconds, { tick, done }) {
  const end = Date.now() + Math.max(0, seconds) * 1000;
  let timer = 0;
  const step = () => {
    const left = Math.ceil((end - Date.now()) / 1000);
    if (left <= 0) {
      timer = 0;
      done();
      return;
    }
    tick(left);
    // Wake just after the next whole second of the remaining time.
    timer = setTimeout(step, ((end - Date.now()) % 1000 || 1000) + 20);
  };
  step();
  return () => {
    clearTimeout(timer);
    timer = 0;
  };
}
