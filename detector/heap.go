package detector

// dueHeap is a min-heap by due time, of the queues that say when a state
// or a cold row is next to be looked at.
type dueHeap[E interface{ when() int64 }] []E

func (h *dueHeap[E]) push(e E) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].when() <= s[i].when() {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

// pop removes and returns the earliest entry.
func (h *dueHeap[E]) pop() E {
	s := *h
	e := s[0]
	last := len(s) - 1
	s[0] = s[last]
	var zero E
	s[last] = zero
	*h = s[:last]
	h.down(0)
	return e
}

// down restores the heap order below i.
func (h *dueHeap[E]) down(i int) {
	s := *h
	for {
		least := i
		if l := 2*i + 1; l < len(s) && s[l].when() < s[least].when() {
			least = l
		}
		if r := 2*i + 2; r < len(s) && s[r].when() < s[least].when() {
			least = r
		}
		if least == i {
			return
		}
		s[i], s[least] = s[least], s[i]
		i = least
	}
}

// heapify restores the heap order of all of h.
func (h *dueHeap[E]) heapify() {
	for i := len(*h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}
