package main

import (
	"errors"
	"fmt"

	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/links"
)

// checkLinkFlags refuses link flags that contradict each other, before
// anything is connected; the key files are read by linkSigner.
func checkLinkFlags(cfg *serveConfig) error {
	if cfg.LinkKey != "" && cfg.LinkKeyFile != "" {
		return errors.New("--link-key and --link-key-file are both set; set one")
	}
	if cfg.LinkPreviousKey != "" && cfg.LinkPreviousKeyFile != "" {
		return errors.New("--link-previous-key and --link-previous-key-file are both set; set one")
	}
	on := cfg.LinkKey != "" || cfg.LinkKeyFile != ""
	if !on && (cfg.LinkPreviousKey != "" || cfg.LinkPreviousKeyFile != "") {
		return errors.New("--link-previous-key is set without --link-key: a rotation needs the new key")
	}
	if on && cfg.PublicURL == "" {
		return errors.New("--link-key: one-click links need --public-url, the address they point at")
	}
	if cfg.LinkTTL < 0 {
		return fmt.Errorf("--link-ttl: %v is negative", cfg.LinkTTL)
	}
	if cfg.LinkKey != "" {
		if err := links.CheckKey([]byte(cfg.LinkKey)); err != nil {
			return fmt.Errorf("--link-key %w", err)
		}
	}
	if cfg.LinkPreviousKey != "" {
		if err := links.CheckKey([]byte(cfg.LinkPreviousKey)); err != nil {
			return fmt.Errorf("--link-previous-key %w", err)
		}
	}
	return nil
}

// linkSigner returns the signer of one-click links, or nil when no link
// key is set (messages then carry no links, and /v1/links refuses all).
func linkSigner(cfg *serveConfig) (*links.Signer, error) {
	key, err := linkKey("--link-key", cfg.LinkKey, cfg.LinkKeyFile)
	if err != nil || key == nil {
		return nil, err
	}
	prev, err := linkKey("--link-previous-key", cfg.LinkPreviousKey, cfg.LinkPreviousKeyFile)
	if err != nil {
		return nil, err
	}
	lc := links.Config{Key: key, TTL: cfg.LinkTTL, BaseURL: cfg.PublicURL}
	if prev != nil {
		lc.PreviousKeys = [][]byte{prev}
	}
	s, err := links.New(lc)
	if err != nil {
		return nil, fmt.Errorf("--link-key: %w", err)
	}
	return s, nil
}

// linkKey is a link key flag's key, checked when read from its file (an
// inline key is checked by checkLinkFlags); nil when not set.
func linkKey(flag, inline, file string) ([]byte, error) {
	key, err := envflag.Secret(flag, inline, file)
	if err != nil || file == "" {
		return key, err
	}
	if err := links.CheckKey(key); err != nil {
		return nil, fmt.Errorf("%s-file %s: the key %w", flag, file, err)
	}
	return key, nil
}
