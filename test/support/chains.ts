/**
 * `INDEX` lines of a chain `p0 <- p1 <- ... <- p(length-1)`, each package depending on the one
 * before it. Two chains make long cycle checks: with `a` and `b` of 10,000, making a0 depend on
 * b9999 is a check of about 200,000 units, suspended over many turns (ADR 0012).
 */
export function chainLines(p: string, length: number): string[] {
  return Array.from({ length }, (_, i) => `INDEX|${p}${i}|${i === 0 ? '' : `${p}${i - 1}`}`);
}
