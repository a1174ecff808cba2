package detector

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// searchedProperties are the event properties keywords look in.
var searchedProperties = [...]string{"subject", "title", "body"}

// keywordSet is a compiled keyword list: each phrase (a single word is a
// phrase of one) indexed by its first word, so that checking an event costs
// one map lookup per word of its text plus the phrases that start with it,
// however many keywords there are.
type keywordSet struct {
	// byFirst maps a first word to the rest of each phrase starting with
	// it; an empty rest is a single-word keyword.
	byFirst map[string][][]string
	// src is the keyword list it was compiled from, as one string: equal
	// lists, equal sets.
	src string
}

// compileKeywords checks and compiles a keyword list; problems are reported
// under path, per keyword as path[i].
func compileKeywords(keywords []string, path string, p *problems) *keywordSet {
	if len(keywords) > MaxKeywords {
		p.addf(path, "has %d keywords, at most %d allowed", len(keywords), MaxKeywords)
		return nil
	}
	k := &keywordSet{byFirst: make(map[string][][]string, len(keywords))}
	var src strings.Builder
	var t textIndex
	for i, kw := range keywords {
		src.WriteString(strconv.Itoa(len(kw)))
		src.WriteByte(':')
		src.WriteString(kw)
		kp := path + "[" + strconv.Itoa(i) + "]"
		if len(kw) > MaxKeywordBytes {
			p.addf(kp, "is %d bytes, at most %d allowed", len(kw), MaxKeywordBytes)
			continue
		}
		t.reset()
		t.add(kw)
		words := t.strings()
		switch {
		case len(words) == 0:
			p.addf(kp, "%q has no words: a keyword needs letters or digits", kw)
			continue
		case len(words) > MaxKeywordWords:
			p.addf(kp, "%q has %d words, at most %d allowed", kw, len(words), MaxKeywordWords)
			continue
		}
		k.byFirst[words[0]] = append(k.byFirst[words[0]], words[1:])
	}
	k.src = src.String()
	return k
}

// in reports whether any keyword occurs in t.
func (k *keywordSet) in(t *textIndex) bool {
	for i, w := range t.words {
		rests, ok := k.byFirst[string(t.buf[w.lo:w.hi])]
		if !ok {
			continue
		}
	phrases:
		for _, rest := range rests {
			if i+len(rest) >= len(t.words) {
				continue
			}
			for j, word := range rest {
				n := t.words[i+1+j]
				if string(t.buf[n.lo:n.hi]) != word {
					continue phrases
				}
			}
			return true
		}
	}
	return false
}

// textIndex is text split into lowercase words, kept in one buffer that is
// reused from event to event.
type textIndex struct {
	buf []byte
	// words are the words in order; an empty span separates the texts
	// added, so that no phrase matches across two properties.
	words []span
}

type span struct{ lo, hi int }

func (t *textIndex) reset() {
	t.buf, t.words = t.buf[:0], t.words[:0]
}

// add appends the words of s. A word is a maximal run of letters, digits
// and combining marks; it is lowercased rune by rune (simple case mapping).
func (t *textIndex) add(s string) {
	if len(t.words) > 0 {
		t.words = append(t.words, span{len(t.buf), len(t.buf)})
	}
	start := -1
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			isWord := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z'
			if !isWord {
				start = t.end(start)
				continue
			}
			if start < 0 {
				start = len(t.buf)
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			t.buf = append(t.buf, c)
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
			start = t.end(start)
			continue
		}
		if start < 0 {
			start = len(t.buf)
		}
		t.buf = utf8.AppendRune(t.buf, unicode.ToLower(r))
	}
	t.end(start)
}

// end closes the word that began at start, if any, and returns -1.
func (t *textIndex) end(start int) int {
	if start >= 0 {
		t.words = append(t.words, span{start, len(t.buf)})
	}
	return -1
}

// strings returns the words as strings (for compiling keywords).
func (t *textIndex) strings() []string {
	out := make([]string, 0, len(t.words))
	for _, w := range t.words {
		if w.lo < w.hi {
			out = append(out, string(t.buf[w.lo:w.hi]))
		}
	}
	return out
}

// propertyText is a property value as distinct compares it: a string as it
// is, a number or bool in its JSON form, anything else "".
func propertyText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}
