//! Redis's glob-style pattern matching (`stringmatchlen`): `*`, `?`, `[...]`
//! with ranges and `^` negation, `\` escapes, optional case folding.
//! Used by KEYS, SCAN MATCH, PSUBSCRIBE, CONFIG GET, COMMAND LIST, CLIENT KILL.
//!
//! Invariant: runs in bounded stack (iterative, with star backtracking), so a
//! hostile pattern cannot overflow the stack.

pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut s) = (0usize, 0usize);
    // Where to resume after the last '*': (pattern index after star, string index).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                        p += 1;
                    }
                    star = Some((p + 1, s));
                    p += 1;
                    continue;
                }
                b'?' if s < string.len() => {
                    p += 1;
                    s += 1;
                    continue;
                }
                b'[' if s < string.len() => {
                    if let Some((matched, next_p)) = match_class(pattern, p, string[s], nocase) {
                        if matched {
                            p = next_p;
                            s += 1;
                            continue;
                        }
                    }
                }
                b'\\'
                    if p + 1 < pattern.len()
                        && s < string.len()
                        && eq(pattern[p + 1], string[s]) =>
                {
                    p += 2;
                    s += 1;
                    continue;
                }
                c if s < string.len()
                    && !matches!(c, b'*' | b'?' | b'[' | b'\\')
                    && eq(c, string[s]) =>
                {
                    p += 1;
                    s += 1;
                    continue;
                }
                // A trailing backslash matches itself.
                b'\\' if p + 1 == pattern.len() && s < string.len() && string[s] == b'\\' => {
                    p += 1;
                    s += 1;
                    continue;
                }
                _ => {}
            }
        } else if s == string.len() {
            return true;
        }
        // Mismatch: backtrack to the last star, letting it eat one more byte.
        match star {
            Some((sp, ss)) if ss < string.len() => {
                star = Some((sp, ss + 1));
                p = sp;
                s = ss + 1;
            }
            _ => return false,
        }
    }
}

/// Matches `c` against the class starting at `pattern[start] == '['`.
/// Returns (matched, index after the class). An unterminated class extends to
/// the end of the pattern, as in Redis.
fn match_class(pattern: &[u8], start: usize, c: u8, nocase: bool) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < pattern.len() && pattern[i] == b'^';
    if negate {
        i += 1;
    }
    let fold = |x: u8| if nocase { x.to_ascii_lowercase() } else { x };
    let c = fold(c);
    let mut matched = false;
    loop {
        if i >= pattern.len() {
            // Unterminated: Redis treats the end of the pattern as the end of the class.
            break;
        }
        if pattern[i] == b']' {
            i += 1;
            break;
        }
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            i += 1;
            if fold(pattern[i]) == c {
                matched = true;
            }
            i += 1;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' {
            let (mut lo, mut hi) = (fold(pattern[i]), fold(pattern[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if c >= lo && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if fold(pattern[i]) == c {
                matched = true;
            }
            i += 1;
        }
    }
    Some((matched != negate, i))
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[ae]llo", b"hillo", false));
        assert!(m(b"h[^e]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hello", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"a*b", b"aXbY", false));
        assert!(m(b"a*b*", b"aXbY", false));
        assert!(m(b"", b"", false));
        assert!(!m(b"", b"a", false));
        assert!(m(b"**", b"", false));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 5000];
        assert!(!m(p, &s, false));
    }
}
