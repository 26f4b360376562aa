/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32) for simulations:
 * synchronous, fast, and the same sequence for the same seed on every platform, so a printed
 * seed replays a schedule exactly. Not for anything secret.
 */

/** A seeded source of numbers; every method advances the sequence. */
export interface SimRandom {
  /** The seed it was made from. */
  readonly seed: number
  /** A float in [0, 1). */
  readonly next: () => number
  /** An integer in [0, n). */
  readonly int: (n: number) => number
  /** An integer in [min, max]. */
  readonly between: (min: number, max: number) => number
  /** True with probability `p`. */
  readonly chance: (p: number) => boolean
  /** One element of a non-empty array. */
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** A 32-bit unsigned integer. */
  readonly uint32: () => number
  /** A random (version 4 layout) UUID from this sequence. */
  readonly uuid: () => string
  /** A new generator seeded from this one (for an independent stream, e.g. per client). */
  readonly fork: () => SimRandom
}

const splitmix32 = (state: number) => () => {
  state = (state + 0x9e3779b9) | 0
  let z = state
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** A generator for `seed` (any integer; only its low 32 bits matter). */
export const make = (seed: number): SimRandom => {
  const init = splitmix32(seed | 0)
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const uint32 = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  for (let i = 0; i < 12; i++) uint32()
  const next = () => uint32() / 4294967296
  const int = (n: number) => {
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`SimRandom.int needs a positive integer, got ${n}`)
    return Math.floor(next() * n)
  }
  const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")
  return {
    seed,
    next,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError("SimRandom.pick needs a non-empty array")
      return items[int(items.length)]!
    },
    uint32,
    uuid: () => {
      const w = [uint32(), uint32(), uint32(), uint32()]
      const time = hex(w[0]!, 8)
      const mid = hex(w[1]! >>> 16, 4)
      const version = hex(0x4000 | (w[1]! & 0x0fff), 4)
      const variant = hex(0x8000 | ((w[2]! >>> 16) & 0x3fff), 4)
      const node = hex(w[2]! & 0xffff, 4) + hex(w[3]!, 8)
      return `${time}-${mid}-${version}-${variant}-${node}`
    },
    fork: () => make(uint32())
  }
}
