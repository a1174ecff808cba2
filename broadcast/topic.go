package broadcast

import (
	"context"
	"strconv"
	"time"

	"github.com/dowserhq/dowser/kafka"
)

// EnsureTopic creates the alerts topic compacted as well as time-limited:
// its messages are keyed by alert id, so an erased alert's tombstone
// removes its message at the next compaction, and the rest go after
// cfg.Retention. An existing topic is left as it is, with a warning when
// it is not compacted.
func EnsureTopic(ctx context.Context, cfg Config) error {
	retention := cfg.Retention.Milliseconds()
	if retention == 0 {
		retention = (24 * time.Hour).Milliseconds() // --alerts-retention's default
	}
	// Compaction and retention only touch closed segments: roll them at
	// least hourly so an erased alert leaves within about an hour.
	segment := min(retention, time.Hour.Milliseconds())
	have, err := kafka.EnsureTopicConfigured(ctx, cfg.Kafka, cfg.Topic, cfg.Partitions, cfg.Replication, map[string]string{
		"cleanup.policy": "compact,delete",
		"retention.ms":   strconv.FormatInt(retention, 10),
		"segment.ms":     strconv.FormatInt(segment, 10),
	})
	if err != nil {
		return err
	}
	if have != nil && !kafka.Compacted(have["cleanup.policy"]) {
		cfg.Logger.Warn("the alerts topic is not compacted: erased alerts stay on it until its retention; see docs/privacy.md",
			"topic", cfg.Topic, "cleanup.policy", have["cleanup.policy"], "retention.ms", have["retention.ms"])
	}
	return nil
}
