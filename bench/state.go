package bench

import (
	"fmt"
	"runtime"
	"time"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// measureState gives each of n/2 people, each of an account of their own,
// one research page view and then a webinar attendance, over 20 signals,
// so that every person and every account is an active subject (the
// attendance counts for a sequence of the person, the view for
// thresholds of the account), and returns the heap the engine then holds
// per active subject and its live (signal, subject) states. The events
// are filed under product lines as the bench traffic files them.
//
// It then freezes every subject as a service does once they are idle
// (checkpoints with SetColdAfter(1)) and returns the heap per subject
// held cold, too.
func measureState(n int) (perSubject, coldPerSubject float64, pairs int, err error) {
	sigs, err := signalSet(20)
	if err != nil {
		return 0, 0, 0, err
	}
	// Prospects see every research page; for a customer's account only
	// the integration guides count (the other signals take prospects).
	prospectPages := []string{"/pricing", "/compare", "/docs/integrations/salesforce"}
	people := max(n/2, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := detector.New(sigs)
	at := epoch
	for i := range people {
		acct := fmt.Sprintf("acct-%07d", i)
		c := schema.Customer{ID: fmt.Sprintf("c-%07d", i), Email: fmt.Sprintf("p%07d@%s.example", i, acct), AccountID: acct, Lifecycle: schema.LifecycleProspect}
		path := prospectPages[i%len(prospectPages)]
		if i%3 == 2 {
			c.Lifecycle, path = schema.LifecycleCustomer, "/docs/integrations/hubspot"
		}
		view := demo.PageView(c, path, "Page")
		attend := demo.WebinarEvent(schema.TypeWebinarAttended, c)
		for k, ev := range []*schema.Event{&view, &attend} {
			ev.ID = fmt.Sprintf("evt-state-%08d-%d", i, k)
			ev.Time = at
			ev.Source = "bench"
			demo.FileUnderProductLine(ev, productLines)
			e.Evaluate(ev)
			at = at.Add(time.Millisecond)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	pairs = e.Subjects()
	active := e.ActiveSubjects()
	if active != 2*people {
		return 0, 0, pairs, fmt.Errorf("detector state: %d active subjects, want %d (every person and account)", active, 2*people)
	}
	e.SetColdAfter(1)
	// A call freezes at most 4096 idle subjects when nothing changes.
	for i := 0; i < 3+active/1024; i++ {
		if cold, _ := e.ColdSubjects(); cold == active {
			break
		}
		e.Changes(func(string, []byte) {})
	}
	if cold, _ := e.ColdSubjects(); cold != active {
		return 0, 0, pairs, fmt.Errorf("detector state: %d of %d subjects cold after the checkpoints", cold, active)
	}
	var frozen runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&frozen)
	coldHeap := int64(frozen.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(e)
	return float64(heap) / float64(active), float64(coldHeap) / float64(active), pairs, nil
}
