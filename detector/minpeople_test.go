package detector

import (
	"slices"
	"testing"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// TestMinPeopleSequenceAndScore: min_people means, for a sequence, that
// many different people among the chain's steps, and for a score among
// its kept scoring events; a score held back by it stays armed.
func TestMinPeopleSequenceAndScore(t *testing.T) {
	const m = time.Minute
	seq := `
id: seq
owner: o
scope: account
min_people: 2
when:
  sequence:
    steps: [{type: webinar_signup}, {type: page_view}]
    within: 1d
cooldown: 0s
`
	score := `
id: heat
owner: o
scope: account
min_people: 2
when:
  score:
    rules: [{match: {type: page_view}, points: 10}]
    half_life: 1d
    level: 20
`
	c1, c2 := customer("c-1", "acme", ""), customer("c-2", "acme", "")
	signup := func(id string, at time.Duration, who func(*schema.Event)) *schema.Event {
		return view(id, at, who, ofType("webinar_signup"))
	}
	tests := []struct {
		name   string
		doc    string
		events []*schema.Event
		want   []string
	}{
		{"sequence of one person", seq, []*schema.Event{signup("s1", 0, c1), view("p1", m, c1)}, nil},
		{"sequence of two people", seq, []*schema.Event{signup("s1", 0, c1), view("p1", m, c2)}, []string{"seq@p1"}},
		{"sequence: a third person's step is not in the chain", seq,
			[]*schema.Event{signup("s0", 0, c2), signup("s1", m, c1), view("p1", 2*m, c1)}, nil},
		{"score of one person", score, []*schema.Event{view("p1", 0, c1), view("p2", m, c1), view("p3", 2*m, c1)}, nil},
		{"score reaches the people later, still armed", score,
			[]*schema.Event{view("p1", 0, c1), view("p2", m, c1), view("p3", 2*m, c2)}, []string{"heat@p3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New([]*Signal{mustParse(t, tt.doc)})
			if got := fired(e, tt.events...); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
