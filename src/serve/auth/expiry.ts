/** setTimeout's longest delay (about 24.8 days); longer ones fire at once. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Calls `fn` at `at` (epoch ms) — also when that is months away, beyond what one timer can wait — for
 * connections and streams that must end when their token expires. Returns the function that cancels it.
 */
export function atTime(at: number, fn: () => void): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = () => {
    const wait = at - Date.now();
    timer = wait > MAX_DELAY ? setTimeout(arm, MAX_DELAY) : setTimeout(fn, Math.max(0, wait));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}
