package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// SearchContent returns up to limit content items, by id, whose id, title,
// URL prefix or owner contains q (ignoring case); every item when q is
// empty. When owner is set, only that user's items.
func (s *Directory) SearchContent(ctx context.Context, q, owner string, limit int) ([]dowser.Content, error) {
	// The pattern is literal: the user's % and _ are not wildcards.
	pat := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	rows, err := s.pool.Query(ctx, `
		SELECT id, title, url_prefix, coalesce(owner_id, ''), talking_point FROM content
		WHERE ($1 = '%%' OR id ILIKE $1 OR title ILIKE $1 OR url_prefix ILIKE $1 OR owner_id ILIKE $1)
			AND ($2 = '' OR owner_id = $2)
		ORDER BY id LIMIT $3`, pat, owner, limit)
	if err != nil {
		return nil, fmt.Errorf("searching content: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.Content])
	if err != nil {
		return nil, fmt.Errorf("reading content: %w", err)
	}
	if out == nil {
		out = []dowser.Content{}
	}
	return out, nil
}
