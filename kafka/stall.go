package kafka

import (
	"fmt"
	"time"
)

// String words a stall for people: "partition 2 stalled at offset 41 for
// 1m5s: <error>", the duration rounded to the second.
func (st Stall) String() string {
	line := fmt.Sprintf("partition %d stalled at offset %d for %v", st.Partition, st.Offset, st.For.Round(time.Second))
	if st.Err != "" {
		line += ": " + st.Err
	}
	return line
}
