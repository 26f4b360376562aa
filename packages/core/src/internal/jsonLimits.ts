/**
 * Bounded checks of untrusted JSON: JSON text (a patch's row image) scanned once, left to
 * right, with an explicit stack no deeper than the limit, and JSON values (an action's args,
 * as parsed) walked with an explicit stack too. Neither recurses, so no input can overflow the
 * call stack, and both run in time linear in the input's size, stopping at the first problem:
 * a 100,000-deep input is refused after reading `maxDepth + 1` brackets.
 *
 * Besides depth and size they refuse what Postgres would refuse later (a transaction into a
 * database error, after the upload has taken the sequencing lock): `\u0000` in a string
 * (`jsonb` and `text` cannot hold it), unpaired UTF-16 surrogates (not Unicode; `jsonb`
 * refuses the escaped form and a driver would silently replace the raw one) and numbers beyond
 * what `numeric` holds.
 *
 * @internal
 */

/** Why a JSON input was refused: `tooLarge` for a size or depth limit, else a malformed input. @internal */
export interface JsonProblem {
  readonly tooLarge: boolean
  readonly detail: string
}

// Postgres `numeric`: at most 131072 digits before the decimal point and 16383 after it.
const MAX_INTEGER_DIGITS = 131072
const MAX_FRACTION_DIGITS = 16383

const malformed = (detail: string): JsonProblem => ({ tooLarge: false, detail })
const tooLarge = (detail: string): JsonProblem => ({ tooLarge: true, detail })

const depthProblem = (maxDepth: number) =>
  tooLarge(`it is nested more than ${maxDepth} levels deep; the limit is ${maxDepth} (SyncProtocol.Limits.maxJsonDepth)`)

// The control characters are what these look for.
// eslint-disable-next-line no-control-regex
const SUSPECT = /[\u0000\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Why a string cannot be stored as Postgres text, if it cannot: it holds U+0000, or an
 * unpaired surrogate (it is not Unicode). Linear in the string's length; one plain character
 * class scan for the usual string. @internal
 */
export const textProblem = (text: string): string | undefined => {
  if (!SUSPECT.test(text)) return undefined
  if (text.includes("\u0000")) return "it contains the character U+0000, which Postgres text cannot hold"
  if (LONE_SURROGATE.test(text)) return "it contains an unpaired UTF-16 surrogate (it is not valid Unicode)"
  return undefined
}

/**
 * Why a string is not a Postgres identifier (a schema or table name of 1 to `maxBytes` bytes of
 * UTF-8, storable as text), if it is not. @internal
 */
export const identifierProblem = (name: string, maxBytes: number): string | undefined => {
  if (name.length === 0) return `it is empty; a Postgres identifier has 1 to ${maxBytes} bytes`
  // A UTF-16 unit is at most 3 bytes of UTF-8; only longer names need counting.
  if (name.length * 3 > maxBytes) {
    const bytes = name.length > maxBytes ? name.length : utf8Length(name)
    if (bytes > maxBytes) {
      return `it is ${bytes} bytes or more; a Postgres identifier has at most ${maxBytes} (SyncProtocol.Limits.maxIdentifierBytes)`
    }
  }
  return textProblem(name)
}

const utf8Length = (s: string): number => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? (i++, 4) : 3
  }
  return bytes
}

/** The next character of a JSON string that is not plain text: a quote, a backslash, a control character or a surrogate. */
// eslint-disable-next-line no-control-regex
const STRING_SPECIAL = /["\\\u0000-\u001f\uD800-\uDFFF]/g

/**
 * The problem of JSON `text` that must be one JSON object (a row image) of at most `maxChars`
 * characters, nested at most `maxDepth` levels (the object itself is level 1), if any. @internal
 */
export const scanObjectText = (text: string, maxDepth: number, maxChars: number): JsonProblem | undefined => {
  if (text.length > maxChars) {
    return tooLarge(`it is ${text.length} characters of JSON; the limit is ${maxChars} (SyncProtocol.Limits.maxRowImageChars)`)
  }
  const scanner = new Scanner(text, maxDepth)
  const problem = scanner.scan()
  if (problem !== undefined) return problem
  return scanner.firstChar === 0x7b ? undefined : malformed("it is JSON but not a JSON object of column values")
}

/**
 * The problem of a parsed JSON value (null, booleans, finite numbers, strings, arrays, plain
 * objects) nested at most `maxDepth` levels whose JSON text would be about `maxChars`
 * characters at most (counted as it is walked, so a huge value is not walked in full), if any.
 * @internal
 */
export const walkValue = (value: unknown, maxDepth: number, maxChars: number): JsonProblem | undefined => {
  const stack: Array<unknown> = [value]
  const depths: Array<number> = [1]
  let chars = 0
  while (stack.length > 0) {
    const item = stack.pop()
    const depth = depths.pop()!
    if (item === null || typeof item === "boolean") {
      chars += 5
    } else if (typeof item === "number") {
      if (!Number.isFinite(item)) return malformed(`it holds the number ${item}, which JSON cannot represent`)
      chars += 8
    } else if (typeof item === "string") {
      const problem = textProblem(item)
      if (problem !== undefined) return malformed(problem)
      chars += item.length + 2
    } else if (typeof item === "object") {
      if (depth > maxDepth) return depthProblem(maxDepth)
      if (Array.isArray(item)) {
        chars += item.length + 2
        for (let i = item.length - 1; i >= 0; i--) {
          stack.push(item[i])
          depths.push(depth + 1)
        }
      } else {
        const proto: unknown = Object.getPrototypeOf(item)
        if (proto !== Object.prototype && proto !== null) return malformed("it holds an object that is not plain JSON")
        const record = item as Readonly<Record<string, unknown>>
        for (const key of Object.keys(record)) {
          const problem = textProblem(key)
          if (problem !== undefined) return malformed(`a key: ${problem}`)
          chars += key.length + 4
          stack.push(record[key])
          depths.push(depth + 1)
        }
        chars += 2
      }
    } else {
      return malformed(`it holds a value of type ${typeof item}, which is not JSON`)
    }
    if (chars > maxChars) return tooLarge(`it is more than ${maxChars} characters of JSON; the limit is ${maxChars}`)
  }
  return undefined
}

/** A one-pass JSON text scanner (RFC 8259) with a bounded explicit stack. */
class Scanner {
  private i = 0
  /** The open containers: 0 an object, 1 an array. */
  private readonly stack: Array<number> = []
  /** The first non-blank character's code (0x7b for an object). */
  firstChar = -1

  constructor(private readonly text: string, private readonly maxDepth: number) {}

  scan(): JsonProblem | undefined {
    const text = this.text
    const stack = this.stack
    this.blank()
    this.firstChar = this.i < text.length ? text.charCodeAt(this.i) : -1
    // `value`: a value is expected next; else the end of a value was just read.
    let value = true
    for (;;) {
      this.blank()
      if (this.i >= text.length) {
        return value || stack.length > 0 ? malformed("it is not valid JSON (it ends too early)") : undefined
      }
      const c = text.charCodeAt(this.i)
      if (value) {
        if (c === 0x7b || c === 0x5b) {
          if (stack.length >= this.maxDepth) return depthProblem(this.maxDepth)
          stack.push(c === 0x7b ? 0 : 1)
          this.i++
          this.blank()
          const close = text.charCodeAt(this.i)
          if (close === (c === 0x7b ? 0x7d : 0x5d)) {
            stack.pop()
            this.i++
            value = false
          } else if (c === 0x7b) {
            const problem = this.key()
            if (problem !== undefined) return problem
          }
          continue
        }
        const problem = c === 0x22 ? this.string() : c === 0x2d || (c >= 0x30 && c <= 0x39) ? this.number() : this.literal()
        if (problem !== undefined) return problem
        value = false
        continue
      }
      if (stack.length === 0) return this.syntax()
      const inObject = stack[stack.length - 1] === 0
      if (c === 0x2c) {
        this.i++
        if (inObject) {
          const problem = this.key()
          if (problem !== undefined) return problem
        }
        value = true
      } else if (c === (inObject ? 0x7d : 0x5d)) {
        stack.pop()
        this.i++
      } else {
        return this.syntax()
      }
    }
  }

  private syntax(): JsonProblem {
    return malformed(`it is not valid JSON (unexpected input at character ${this.i})`)
  }

  private blank(): void {
    const text = this.text
    for (;;) {
      const c = text.charCodeAt(this.i)
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++
      else return
    }
  }

  /** A key and its colon; the value follows. */
  private key(): JsonProblem | undefined {
    this.blank()
    if (this.text.charCodeAt(this.i) !== 0x22) return this.syntax()
    const problem = this.string()
    if (problem !== undefined) return problem
    this.blank()
    if (this.text.charCodeAt(this.i) !== 0x3a) return this.syntax()
    this.i++
    return undefined
  }

  private string(): JsonProblem | undefined {
    const text = this.text
    let i = this.i + 1
    for (;;) {
      // Plain text is skipped by the regex engine, up to the next character that needs a look.
      STRING_SPECIAL.lastIndex = i
      const special = STRING_SPECIAL.exec(text)
      if (special === null) return malformed("it is not valid JSON (a string is not closed)")
      i = special.index
      const c = text.charCodeAt(i)
      if (c === 0x22) break
      if (c < 0x20) return malformed(`it is not valid JSON (a control character in a string at character ${i})`)
      if (c === 0x5c) {
        const e = text.charCodeAt(i + 1)
        if (e === 0x75) {
          const code = hex4(text, i + 2)
          if (code < 0) return malformed(`it is not valid JSON (a bad \\u escape at character ${i})`)
          if (code === 0) return malformed("it contains \\u0000, which Postgres cannot store")
          i += 6
          if (code >= 0xdc00 && code <= 0xdfff) return malformed(`it contains an unpaired surrogate escape at character ${i - 6}`)
          if (code >= 0xd800 && code <= 0xdbff) {
            const low = text.charCodeAt(i) === 0x5c && text.charCodeAt(i + 1) === 0x75 ? hex4(text, i + 2) : -1
            if (low < 0xdc00 || low > 0xdfff) return malformed(`it contains an unpaired surrogate escape at character ${i - 6}`)
            i += 6
          }
          continue
        }
        if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          i += 2
          continue
        }
        return malformed(`it is not valid JSON (a bad escape at character ${i})`)
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = text.charCodeAt(i + 1)
        if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) {
          return malformed(`it contains an unpaired UTF-16 surrogate at character ${i}`)
        }
        i += 2
        continue
      }
      i++
    }
    this.i = i + 1
    return undefined
  }

  private number(): JsonProblem | undefined {
    const text = this.text
    const start = this.i
    let i = start
    if (text.charCodeAt(i) === 0x2d) i++
    const intStart = i
    if (text.charCodeAt(i) === 0x30) i++
    else if (isDigit(text.charCodeAt(i))) while (isDigit(text.charCodeAt(i))) i++
    else return this.syntaxAt(i)
    const intDigits = i - intStart
    let fracDigits = 0
    if (text.charCodeAt(i) === 0x2e) {
      i++
      const fracStart = i
      while (isDigit(text.charCodeAt(i))) i++
      fracDigits = i - fracStart
      if (fracDigits === 0) return this.syntaxAt(i)
    }
    let exponent = 0
    const e = text.charCodeAt(i)
    if (e === 0x65 || e === 0x45) {
      i++
      const sign = text.charCodeAt(i) === 0x2d ? -1 : 1
      if (text.charCodeAt(i) === 0x2b || text.charCodeAt(i) === 0x2d) i++
      const expStart = i
      // Digits past the seventh cannot change the verdict below; they are skipped, not summed.
      while (isDigit(text.charCodeAt(i))) {
        if (i - expStart < 7) exponent = exponent * 10 + text.charCodeAt(i) - 0x30
        i++
      }
      if (i === expStart) return this.syntaxAt(i)
      exponent *= sign
    }
    if (intDigits + Math.max(exponent, 0) > MAX_INTEGER_DIGITS || fracDigits - Math.min(exponent, 0) > MAX_FRACTION_DIGITS) {
      return malformed(
        `the number at character ${start} is beyond what Postgres numeric holds (${MAX_INTEGER_DIGITS} digits before the ` +
          `decimal point, ${MAX_FRACTION_DIGITS} after)`
      )
    }
    this.i = i
    return undefined
  }

  private literal(): JsonProblem | undefined {
    const text = this.text
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, this.i)) {
        this.i += word.length
        return undefined
      }
    }
    return this.syntax()
  }

  private syntaxAt(i: number): JsonProblem {
    this.i = i
    return this.syntax()
  }
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

/** The value of 4 hex digits at `at`, or -1. */
const hex4 = (text: string, at: number): number => {
  let value = 0
  for (let k = 0; k < 4; k++) {
    const c = text.charCodeAt(at + k)
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1
    if (digit < 0) return -1
    value = value * 16 + digit
  }
  return value
}
