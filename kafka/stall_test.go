package kafka_test

import (
	"testing"
	"time"

	"github.com/dowserhq/dowser/kafka"
)

func TestStallString(t *testing.T) {
	for _, tc := range []struct {
		st   kafka.Stall
		want string
	}{
		{kafka.Stall{Partition: 2, Offset: 41, For: 65400 * time.Millisecond, Err: "saving: timeout"}, "partition 2 stalled at offset 41 for 1m5s: saving: timeout"},
		{kafka.Stall{Partition: 0, Offset: 7, For: 31 * time.Second}, "partition 0 stalled at offset 7 for 31s"},
	} {
		if got := tc.st.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.st, got, tc.want)
		}
	}
}
