package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// EnsureTopicConfigured creates topic with the given partition count,
// replication factor and topic configs (cleanup.policy, retention.ms, …)
// when it does not exist yet. An existing topic is left as it is; its
// configs as the brokers report them are returned, for the caller to
// check (nil when the topic was created here).
func EnsureTopicConfigured(ctx context.Context, cl Cluster, topic string, partitions, replication int, configs map[string]string) (map[string]string, error) {
	client, done := cl.client(10 * time.Second)
	defer done()
	tc := kafkago.TopicConfig{Topic: topic, NumPartitions: partitions, ReplicationFactor: replication}
	for k, v := range configs {
		tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
	}
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{tc}})
	if err != nil {
		return nil, fmt.Errorf("creating topic %s: %w", topic, cl.explain(ctx, err, "Create on topic "+topic))
	}
	err = resp.Errors[topic]
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, kafkago.TopicAlreadyExists) {
		return nil, fmt.Errorf("creating topic %s with %v: %w", topic, configs, cl.explain(ctx, err, "Create on topic "+topic))
	}
	names := make([]string, 0, len(configs))
	for k := range configs {
		names = append(names, k)
	}
	desc, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: names,
	}}})
	if err != nil {
		return nil, fmt.Errorf("describing topic %s: %w", topic, cl.explain(ctx, err, "DescribeConfigs on topic "+topic))
	}
	out := map[string]string{}
	for _, r := range desc.Resources {
		if r.Error != nil {
			return nil, fmt.Errorf("describing topic %s: %w", topic, cl.explain(ctx, r.Error, "DescribeConfigs on topic "+topic))
		}
		for _, e := range r.ConfigEntries {
			out[e.ConfigName] = e.ConfigValue
		}
	}
	return out, nil
}

// Compacted reports whether a cleanup.policy value compacts the topic.
func Compacted(cleanupPolicy string) bool {
	for _, p := range strings.Split(cleanupPolicy, ",") {
		if strings.TrimSpace(p) == "compact" {
			return true
		}
	}
	return false
}
