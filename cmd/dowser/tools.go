package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
)

// runBroker runs the embedded Kafka broker alone until ctx ends.
func runBroker(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("broker")
	addr := fs.String("embedded-kafka-addr", "127.0.0.1:9092", "listen address")
	dir := fs.String("embedded-kafka-dir", "", "folder to persist topics, offsets and groups in; empty keeps them in memory")
	partitions := fs.Int("partitions", 6, "partition count of automatically created topics")
	var lc envflag.LogFlags
	lc.Register(fs)
	if err := envflag.Parse(fs, args, stderr, getenv, nil); err != nil {
		return err
	}
	log, err := lc.Logger(stderr)
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Addr: *addr, Dir: *dir, Partitions: *partitions, Logger: log})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("embedded kafka broker stopping")
	b.Close()
	return nil
}

// runMigrate applies the migrations and exits.
func runMigrate(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("migrate")
	url := fs.String("database-url", "", "PostgreSQL URL (also read from DATABASE_URL)")
	if err := envflag.Parse(fs, args, stderr, getenv, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		return err
	}
	if *url == "" {
		return fmt.Errorf("no database: set --database-url, DOWSER_DATABASE_URL or DATABASE_URL")
	}
	store, err := openStore(ctx, *url)
	if err != nil {
		return err
	}
	store.Close()
	fmt.Fprintln(stderr, "migrations applied")
	return nil
}

// openStore opens the database at url and applies the migrations it lacks.
func openStore(ctx context.Context, url string) (*postgres.Store, error) {
	store, err := postgres.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// runProduce produces one event per stdin line, validating each first so
// that a typo is reported here rather than dead-lettered.
func runProduce(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer, getenv func(string) string) error {
	fs := envflag.NewFlagSet("produce")
	brokers := fs.String("kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	topic := fs.String("events-topic", "dowser.events", "topic to produce to")
	raw := fs.Bool("raw", false, "produce lines as they are, without validating them")
	format := fs.String("format", "", "format of the lines: dowser, segment, snowplow or cloudevents (structured); each message then names it in its dowser-format header; empty is Dowser's envelope, unmarked")
	var kf kafka.Flags
	kf.Register(fs)
	fields := fs.String("fields", "", "comma-separated FIELD=PATH overrides of the format's mapping to validate with, as --source takes them (e.g. account_id=properties.company)")
	if err := envflag.Parse(fs, args, stderr, getenv, nil); err != nil {
		return err
	}
	var mapping *formats.Mapping
	switch {
	case *format != "":
		cfg, err := formats.ParseSource("format=" + *format + "," + *fields)
		if err != nil {
			return fmt.Errorf("--fields: %w", err)
		}
		if cfg.Topic != "" || cfg.Format != *format {
			return errors.New("--fields: only FIELD=PATH pairs, not topic or format")
		}
		if mapping, err = formats.NewMapping(*format, cfg.Fields); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
	case *fields != "":
		return errors.New("--fields needs --format")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cl, err := kf.Cluster(ctx, envflag.SplitList(*brokers), log)
	if err != nil {
		return err
	}
	p := kafka.NewProducer(cl, *topic)
	defer p.Close()
	n, err := p.ProduceLines(ctx, stdin, "stdin", *raw, mapping)
	if err != nil {
		return err
	}
	log.Info("produced", "events", n, "topic", *topic)
	return nil
}
