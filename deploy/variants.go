package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
)

// Pack returns the sources of the default signal pack, in file name order.
func Pack() ([]string, error) {
	files, err := fs.Glob(Signals, "signals/*.yaml")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var pack []string
	for _, f := range files {
		b, err := fs.ReadFile(Signals, f)
		if err != nil {
			return nil, err
		}
		pack = append(pack, string(b))
	}
	if len(pack) == 0 {
		return nil, errors.New("the default signal pack is empty")
	}
	return pack, nil
}

// Variant returns the v-th variant of src, a signal of the pack, as the
// benchmarks make them: its id suffixed "-vNNN", each count and level
// raised by v%3, each within in days lengthened by v%2. Variant 0 is src.
func Variant(src string, v int) string {
	if v == 0 {
		return src
	}
	idRe := regexp.MustCompile(`(?m)^id: (\S+)`)
	numRe := regexp.MustCompile(`(?m)^(\s+(?:count|level): )(\d+)`)
	dayRe := regexp.MustCompile(`(?m)^(\s+within: )(\d+)d`)
	src = idRe.ReplaceAllString(src, fmt.Sprintf("id: ${1}-v%03d", v))
	src = numRe.ReplaceAllStringFunc(src, func(m string) string {
		s := numRe.FindStringSubmatch(m)
		k, _ := strconv.Atoi(s[2])
		return s[1] + strconv.Itoa(k+v%3)
	})
	return dayRe.ReplaceAllStringFunc(src, func(m string) string {
		s := dayRe.FindStringSubmatch(m)
		k, _ := strconv.Atoi(s[2])
		return s[1] + strconv.Itoa(k+v%2) + "d"
	})
}
