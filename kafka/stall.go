package kafka

import (
	"context"
	"errors"
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

// StalledReport words the partitions stalled now, for /readyz; empty when
// none is.
func (c *Consumer) StalledReport() []string {
	var out []string
	for _, st := range c.Stalled() {
		out = append(out, st.String())
	}
	return out
}

// Joined fails until the consumer is a member of its group: an instance
// that joined but owns no partitions (more instances than partitions) is
// still of use, serving websockets.
func (c *Consumer) Joined(context.Context) error {
	if err := c.denied.Load(); err != nil {
		return *err
	}
	if c.Assignment().Generation == 0 {
		return errors.New("not yet a member of consumer group " + c.cfg.GroupID)
	}
	return nil
}
