package broadcast

import (
	"encoding/json"

	"github.com/dowserhq/dowser/schema"
)

// fanOut pushes an alerts-topic message, from this instance or another, to
// the sockets of this instance; the hub drops deliveries it has sent
// already, by sequence. A tombstone (no value) is an erased alert:
// nothing to push.
func (b *Broadcaster) fanOut(value []byte) {
	if len(value) == 0 {
		return
	}
	var m schema.AlertMessage
	if err := json.Unmarshal(value, &m); err != nil {
		b.log.Warn("undecodable message on the alerts topic", "err", err)
		return
	}
	b.cfg.Hub.Deliver(m.Expand()...)
}
