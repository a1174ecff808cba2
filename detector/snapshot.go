package detector

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// snapshotVersion names the layout below; RestoreSnapshot refuses any other, so a
// checkpoint from an incompatible build is reported, never misread.
const snapshotVersion = 1

// The snapshot layout mirrors the engine's state with exported fields, so
// that encoding/gob can write it; it holds data only, never compiled plans.
type (
	snapEngine struct {
		Version   int
		Watermark time.Time
		NextSweep time.Time
		// Clock is nil in a snapshot written before the clock existed,
		// whose Watermark the newest event alone set: RestoreSnapshot then learns
		// W again, so that an absurd one heals.
		Clock    *snapClock
		Recent   []string // the recent-id ring as stored, and its cursor
		RecentAt int
		Links    []snapLink // in the ring's order
		LinksAt  int
		Programs []snapProgram
	}
	snapClock struct {
		W     int64   // the watermark W, Unix nanoseconds
		Times []int64 // the current block's event times
	}
	snapLink struct {
		Anon, Customer, Account, Lifecycle string
	}
	snapProgram struct {
		ID        string
		Version   int
		Hash      string
		NextSweep time.Time
		States    []snapState
	}
	snapState struct {
		Subject     string
		Records     []snapRecord
		Alerts      []time.Time
		Folded      float64
		FoldedTime  time.Time
		FoldedCount int
		Total       float64
		Disarmed    bool
	}
	snapRecord struct {
		Ev     schema.Evidence
		Value  string
		Steps  uint16
		Absent bool
		Points float64
	}
)

// Snapshot encodes the engine's whole evaluation state: every (signal,
// subject) state, the recent event ids, the identity links and the event
// time watermark. An engine given the same signals and restored from it
// evaluates every later event exactly as this engine would.
func (e *Engine) Snapshot() ([]byte, error) {
	s := snapEngine{
		Version:   snapshotVersion,
		Watermark: time.Unix(0, e.watermark),
		NextSweep: time.Unix(0, e.nextSweep),
		Clock:     &snapClock{W: e.watermark, Times: e.clock.times()},
		Recent:    e.recent.ring,
		RecentAt:  e.recent.next,
		LinksAt:   e.links.next,
		Programs:  make([]snapProgram, 0, len(e.programs)),
	}
	for _, anon := range e.links.ring {
		k := e.links.byAnon[anon]
		s.Links = append(s.Links, snapLink{Anon: anon, Customer: k.customer, Account: k.account, Lifecycle: k.lifecycle})
	}
	index := make(map[uint64]int, len(e.programs))
	for _, p := range e.programs {
		sp := snapProgram{ID: p.sig.ID, Version: p.sig.Version, Hash: p.hash, NextSweep: time.Unix(0, p.nextSweep), States: make([]snapState, 0, len(p.states))}
		for _, st := range p.states {
			sp.States = append(sp.States, snapOf(st))
		}
		index[p.num] = len(s.Programs)
		s.Programs = append(s.Programs, sp)
	}
	// Cold subjects, decoded aside: a snapshot leaves them cold.
	d := e.tier.dec
	for i := range e.tier.rows.slots {
		if e.tier.rows.slots[i].n == 0 {
			continue
		}
		k, row := e.tier.rows.entry(uint32(i))
		d.clean = e.tier.cleaners[e.tier.rows.slots[i].epoch:]
		_, err := d.decodeSubject(string(k), row, true)
		d.clean = nil
		if err != nil {
			return nil, fmt.Errorf("decoding cold subject %q: %w", k, err)
		}
		for _, ns := range d.states {
			sp := &s.Programs[index[ns.num]]
			sp.States = append(sp.States, snapOf(ns.st))
		}
		clear(d.states)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&s); err != nil {
		return nil, fmt.Errorf("encoding detector state: %w", err)
	}
	return buf.Bytes(), nil
}

func snapOf(st *subjectState) snapState {
	ss := snapState{Subject: st.subject, Records: make([]snapRecord, len(st.records))}
	if m := st.stateMore; m != nil {
		ss.Alerts = m.alerts
		ss.Folded, ss.FoldedTime, ss.FoldedCount = m.folded, m.foldedTime, m.foldedCount
		ss.Total, ss.Disarmed = m.total, m.disarmed
	}
	for i, r := range st.records {
		ss.Records[i] = snapRecord{Ev: *r.ev, Value: r.value, Steps: r.steps, Absent: r.absent, Points: r.points}
	}
	return ss
}

// RestoreSnapshot reads a whole-state snapshot of the layout before
// incremental checkpoints; kept to migrate old checkpoints (follow it with
// [Engine.MarkAllChanged] to rewrite the state as rows). It replaces the
// engine's state with a snapshot taken by Snapshot.
// The state of a signal is restored only when the engine runs the same
// signal ID, Version and Hash; the state of signals that changed or went
// away since is dropped, as SetSignals would. Afterwards every row is
// marked changed, as [Engine.MarkAllChanged] marks them. On error the
// engine is left as it was.
func (e *Engine) RestoreSnapshot(data []byte) error {
	var s snapEngine
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&s); err != nil {
		return fmt.Errorf("decoding detector state: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("detector state has layout %d, this build reads %d", s.Version, snapshotVersion)
	}
	limit := e.recent.limit
	if len(s.Recent) > limit || len(s.Links) > e.links.limit {
		return fmt.Errorf("detector state holds %d ids and %d links, more than this build keeps", len(s.Recent), len(s.Links))
	}
	byID := make(map[string]*snapProgram, len(s.Programs))
	for i := range s.Programs {
		byID[s.Programs[i].ID] = &s.Programs[i]
	}

	e.clock, e.watermark = e.clock.restored(nil), math.MinInt64
	if s.Clock != nil {
		e.clock, e.watermark = e.clock.restored(s.Clock.Times), s.Clock.W
	}
	e.nextSweep = math.MaxInt64
	e.passW = e.watermark
	e.resetTier()
	e.newDecoder()
	e.recent = recentIDs{limit: limit, ring: s.Recent, next: s.RecentAt, seed: e.recent.seed, rows: e.recent.rows}
	e.recent.rebuild()
	e.links = identityLinks{limit: e.links.limit, next: s.LinksAt, byAnon: make(map[string]slotLink, len(s.Links)), rows: e.links.rows}
	for i, l := range s.Links {
		e.links.ring = append(e.links.ring, l.Anon)
		e.links.byAnon[l.Anon] = slotLink{link: link{customer: l.Customer, account: l.Account, lifecycle: l.Lifecycle}, slot: i}
	}
	// The records of one event share their evidence, as they did when
	// evaluated.
	evidence := make(map[schema.Evidence]*schema.Evidence)
	shared := func(ev schema.Evidence) *schema.Evidence {
		if p, ok := evidence[ev]; ok {
			return p
		}
		p := &ev
		evidence[ev] = p
		return p
	}
	for _, p := range e.programs {
		p.states = make(map[string]*subjectState)
		p.expiry, p.timers, p.gone = nil, nil, 0
		p.nextSweep = math.MinInt64
		sp := byID[p.sig.ID]
		if sp == nil || sp.Version != p.sig.Version || sp.Hash != p.hash {
			e.nextSweep = math.MinInt64
			continue
		}
		// A pass is never planned more than half a horizon past W, which
		// also heals one planned from an absurd W.
		p.nextSweep = min(unixNanos(sp.NextSweep), satAdd(e.watermark, int64(p.horizon/2)))
		e.nextSweep = min(e.nextSweep, p.nextSweep)
		for _, ss := range sp.States {
			if len(ss.Records) == 0 {
				continue // never saved; a state is never empty
			}
			st := newState(ss.Subject, p.kind)
			st.records = make([]record, len(ss.Records))
			if len(ss.Alerts) > 0 {
				st.more().alerts = ss.Alerts
			}
			if m := st.stateMore; p.kind == kindScore {
				m.folded, m.foldedTime, m.foldedCount = ss.Folded, ss.FoldedTime, ss.FoldedCount
				m.total, m.disarmed = ss.Total, ss.Disarmed
			}
			for i, r := range ss.Records {
				st.records[i] = record{ev: shared(r.Ev), at: unixNanos(r.Ev.Time), value: r.Value, steps: r.Steps, absent: r.Absent, points: r.Points}
				if r.Ev.EventID != "" {
					st.records[i].idHash = idHash(e.x.seed, r.Ev.EventID)
				}
			}
			p.states[st.subject] = st
			p.expiry.push(expiryEntry{p.expiresAt(st), st})
			p.schedule(st)
		}
	}
	// Every row is new to the checkpoint table.
	e.MarkAllChanged()
	return nil
}
