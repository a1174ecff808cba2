package detector

import (
	"strings"
	"unicode/utf8"
)

// glob is a compiled URL pattern. '*' matches any run of characters,
// including '/' and the empty run; '?' matches exactly one character (one
// UTF-8 encoded rune); every other character matches itself, case-sensitively.
// There is no escape: a URL pattern cannot match a literal '*' or '?' only.
type glob struct {
	kind    globKind
	literal string // the text for every kind but globGeneral
	pattern string // the pattern with runs of '*' collapsed
}

type globKind uint8

const (
	globExact    globKind = iota // "abc"
	globPrefix                   // "abc*"
	globSuffix                   // "*abc"
	globContains                 // "*abc*"
	globGeneral                  // anything else, matched by backtracking
)

// compileGlob prepares pattern for matching. Every string is a valid pattern.
func compileGlob(pattern string) glob {
	for strings.Contains(pattern, "**") {
		pattern = strings.ReplaceAll(pattern, "**", "*")
	}
	g := glob{kind: globGeneral, pattern: pattern}
	if strings.ContainsRune(pattern, '?') {
		return g
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(pattern, "*"), "*")
	if strings.ContainsRune(inner, '*') {
		return g
	}
	lead, trail := strings.HasPrefix(pattern, "*"), len(pattern) > 1 && strings.HasSuffix(pattern, "*")
	g.literal = inner
	switch {
	case pattern == "*":
		g.kind, g.literal = globContains, ""
	case lead && trail:
		g.kind = globContains
	case lead:
		g.kind = globSuffix
	case trail:
		g.kind = globPrefix
	default:
		g.kind = globExact
	}
	return g
}

// match reports whether the whole of s matches the pattern.
func (g *glob) match(s string) bool {
	switch g.kind {
	case globExact:
		return s == g.literal
	case globPrefix:
		return strings.HasPrefix(s, g.literal)
	case globSuffix:
		return strings.HasSuffix(s, g.literal)
	case globContains:
		return strings.Contains(s, g.literal)
	}
	return matchGeneral(g.pattern, s)
}

// matchGeneral is the classic iterative wildcard match: on a mismatch it
// backtracks to the last '*' and lets it swallow one more character, which
// is enough because a '*' can always absorb whatever an earlier choice left.
// Literal bytes are compared as bytes (UTF-8 is self-synchronising); '?' and
// backtracking step over whole runes.
func matchGeneral(p, s string) bool {
	pi, si := 0, 0
	star, starS := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, starS = pi, si
			pi++
		case pi < len(p) && p[pi] == '?':
			pi++
			si += runeLen(s[si:])
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			starS += runeLen(s[starS:])
			pi, si = star+1, starS
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// runeLen is the length in bytes of the first rune of s (1 for an invalid
// byte), never 0 for a non-empty s.
func runeLen(s string) int {
	_, n := utf8.DecodeRuneInString(s)
	return n
}
