package bench

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
)

// productLines is how many product lines the bench traffic files its
// research pages under.
const productLines = 40

// signalSet returns n signals: the default pack, then variants of it
// with other ids, thresholds and windows, each watching the pages,
// webinars and support queue of one product line. A marketer's thousand signals watch many pages, not the
// same three a thousand times: an event is relevant to the pack and the
// few variants of its product line, whatever n is.
func signalSet(n int) ([]*detector.Signal, error) {
	pack, err := deploy.Pack()
	if err != nil {
		return nil, err
	}
	webinarStepRe := regexp.MustCompile(`\{type: (webinar_\w+)\}`)
	supportRe := regexp.MustCompile(`(?m)^(\s+)type: support_email$`)
	paths := demo.ResearchPaths()
	out := make([]*detector.Signal, 0, n)
	for i := range n {
		v := i / len(pack)
		src := deploy.Variant(pack[i%len(pack)], v)
		if v > 0 {
			// Each variant watches the pages, webinars and support queue
			// of one product line, as the traffic files them (the pack
			// itself watches them all).
			line := demo.ProductLine((v - 1) % productLines)
			for _, p := range paths {
				src = strings.ReplaceAll(src, p, line+p)
			}
			src = strings.ReplaceAll(src, `matches("/(`, `matches("`+line+`/(`)
			src = webinarStepRe.ReplaceAllString(src, `{type: $1, url: "*`+line+`/webinars/*"}`)
			src = supportRe.ReplaceAllString(src, "${1}type: support_email\n${1}content_id: support-"+line[1:])
		}
		s, err := detector.ParseSignal([]byte(src))
		if err != nil {
			return nil, fmt.Errorf("bench signal %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, nil
}
