package kafka

import (
	"context"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
)

func TestLagState(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		position, logStart, end int64
		raise                   int64
		want                    int64
		known                   bool
	}{
		{name: "end unknown", position: 3, end: -1, raise: -1},
		{name: "working on an offset", position: 3, end: 10, raise: -1, want: 7, known: true},
		{name: "from the log's start", position: -2, logStart: 5, end: 9, raise: -1, want: 4, known: true},
		{name: "position before retention", position: 2, logStart: 5, end: 9, raise: -1, want: 4, known: true},
		{name: "a reader's older end is ignored", position: 3, end: 10, raise: 8, want: 7, known: true},
		{name: "a reader's newer end counts", position: 3, end: 10, raise: 12, want: 9, known: true},
		{name: "never negative", position: 12, end: 10, raise: -1, want: 0, known: true},
	} {
		var l lagState
		l.init(tc.position)
		l.logStart.Store(tc.logStart)
		if tc.end >= 0 {
			l.hwm.Store(tc.end)
		}
		l.raiseEnd(tc.raise)
		if got, known := l.lag(); got != tc.want || known != tc.known {
			t.Errorf("%s: lag() = %d, %v; want %d, %v", tc.name, got, known, tc.want, tc.known)
		}
	}
}

// A failed refresh keeps the last figures rather than dropping the series;
// dowser_consumer_lag_age_seconds says how old they are.
func TestRefreshLagFailureKeepsTheLastFigures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	m := NewMetrics(prometheus.NewRegistry())
	c, err := NewConsumer(Config{Cluster: Cluster{Brokers: []string{addr}}, Topic: "events"}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	p := &progress{partition: 0}
	p.init(3)
	p.hwm.Store(10)
	m.progress.add(p)
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	if err := c.refreshLag(context.Background(), &kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr}); err == nil {
		t.Fatal("refreshLag against no broker succeeded")
	}
	if got, known := p.lag(); got != 7 || !known {
		t.Errorf("lag after a failed refresh = %d, %v; want the last figure, 7", got, known)
	}
}
