package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Directory stores what routing asks about: accounts, content, contacts
// and territory rules, with their owners and the roles those have now. It
// answers the router's questions directly and imports records in bulk.
type Directory struct{ pool *pgxpool.Pool }

// PutAccount creates or updates an account.
func (s *Directory) PutAccount(ctx context.Context, a dowser.Account) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO accounts (id, name, owner_id, lifecycle, region, industry, size) VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET name = $2, owner_id = nullif($3, ''), lifecycle = $4,
			region = $5, industry = $6, size = $7, updated_at = now()`,
		a.ID, a.Name, a.OwnerID, a.Lifecycle, a.Region, a.Industry, a.Size)
	if err != nil {
		return fmt.Errorf("saving account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with that id, or dowser.ErrNotFound.
func (s *Directory) GetAccount(ctx context.Context, id string) (dowser.Account, error) {
	var a dowser.Account
	err := s.pool.QueryRow(ctx, `SELECT id, name, coalesce(owner_id, ''), lifecycle, region, industry, size FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.Name, &a.OwnerID, &a.Lifecycle, &a.Region, &a.Industry, &a.Size)
	if err != nil {
		return a, notFound(err, "account "+id)
	}
	return a, nil
}

// PutContent creates or updates a content item.
func (s *Directory) PutContent(ctx context.Context, c dowser.Content) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO content (id, title, url_prefix, owner_id, talking_point) VALUES ($1, $2, $3, nullif($4, ''), $5)
		ON CONFLICT (id) DO UPDATE SET title = $2, url_prefix = $3, owner_id = nullif($4, ''), talking_point = $5, updated_at = now()`,
		c.ID, c.Title, c.URLPrefix, c.OwnerID, c.TalkingPoint)
	if err != nil {
		return fmt.Errorf("saving content %q: %w", c.ID, err)
	}
	return nil
}

// GetContent returns the content item with that id, or dowser.ErrNotFound.
func (s *Directory) GetContent(ctx context.Context, id string) (dowser.Content, error) {
	var c dowser.Content
	err := s.pool.QueryRow(ctx, `SELECT id, title, url_prefix, coalesce(owner_id, ''), talking_point FROM content WHERE id = $1`, id).
		Scan(&c.ID, &c.Title, &c.URLPrefix, &c.OwnerID, &c.TalkingPoint)
	if err != nil {
		return c, notFound(err, "content "+id)
	}
	return c, nil
}

// ListContent returns every content item, by id.
func (s *Directory) ListContent(ctx context.Context) ([]dowser.Content, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, title, url_prefix, coalesce(owner_id, ''), talking_point FROM content ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing content: %w", err)
	}
	defer rows.Close()
	var out []dowser.Content
	for rows.Next() {
		var c dowser.Content
		if err := rows.Scan(&c.ID, &c.Title, &c.URLPrefix, &c.OwnerID, &c.TalkingPoint); err != nil {
			return nil, fmt.Errorf("reading content: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AccountOwner returns the id of the rep who owns the account, or "" when
// the account is unknown or has no owner.
func (s *Directory) AccountOwner(ctx context.Context, accountID string) (string, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT coalesce(owner_id, '') FROM accounts WHERE id = $1`, accountID).Scan(&owner)
	if err != nil {
		if err := notFound(err, ""); errors.Is(err, dowser.ErrNotFound) {
			return "", nil
		}
		return "", fmt.Errorf("reading owner of account %q: %w", accountID, err)
	}
	return owner, nil
}

// ContentOwners returns, by id, the distinct owners of the content items
// that have one of contentIDs as id, or a url_prefix that one of urls
// starts with, each with their role now ("" for an owner who is no user).
func (s *Directory) ContentOwners(ctx context.Context, contentIDs, urls []string) ([]dowser.Owner, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT c.owner_id, coalesce(u.role, '') FROM content c LEFT JOIN users u ON u.id = c.owner_id AND NOT u.disabled AND u.deleted_at IS NULL
		WHERE c.owner_id IS NOT NULL AND (c.id = ANY($1::text[])
			OR (c.url_prefix <> '' AND EXISTS (SELECT 1 FROM unnest($2::text[]) x WHERE starts_with(x, c.url_prefix))))
		ORDER BY c.owner_id`, contentIDs, urls)
	if err != nil {
		return nil, markPermanent(fmt.Errorf("finding content owners: %w", err))
	}
	owners, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.Owner])
	if err != nil {
		return nil, markPermanent(fmt.Errorf("reading content owners: %w", err))
	}
	return owners, nil
}

// RoleOf returns the user's role, "" when there is no such user.
func (s *Directory) RoleOf(ctx context.Context, userID string) (dowser.Role, error) {
	var role dowser.Role
	err := s.pool.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL`, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", markPermanent(fmt.Errorf("reading the role of user %q: %w", userID, err))
	}
	return role, nil
}

// PutContact creates or updates a contact. With IdentityConsent nil the
// stored identity and consent stay as they are; otherwise they are
// replaced, and without consent the name, title and e-mail are deleted
// (by the table's trigger, whichever path writes): GetContact reads what
// was kept.
func (s *Directory) PutContact(ctx context.Context, c dowser.Contact) error {
	var err error
	if c.IdentityConsent == nil {
		_, err = s.pool.Exec(ctx, `
			INSERT INTO contacts (id, owner_id, account_id) VALUES ($1, nullif($2, ''), $3)
			ON CONFLICT (id) DO UPDATE SET owner_id = nullif($2, ''), account_id = $3, updated_at = now()`,
			c.ID, c.OwnerID, c.AccountID)
	} else {
		_, err = s.pool.Exec(ctx, `
			INSERT INTO contacts (id, owner_id, account_id, name, title, email, identity_consent, identity_consent_source)
			VALUES ($1, nullif($2, ''), $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET owner_id = nullif($2, ''), account_id = $3, name = $4, title = $5, email = $6,
				identity_consent = $7, identity_consent_source = $8, updated_at = now()`,
			c.ID, c.OwnerID, c.AccountID, c.Name, c.Title, c.Email, *c.IdentityConsent, c.IdentityConsentSource)
	}
	if err != nil {
		// Not the id: the message ends up in logs.
		return fmt.Errorf("saving a contact: %w", err)
	}
	return nil
}

// GetContact returns the contact with that id, with its stored identity,
// or dowser.ErrNotFound.
func (s *Directory) GetContact(ctx context.Context, id string) (dowser.Contact, error) {
	var c dowser.Contact
	var consent bool
	err := s.pool.QueryRow(ctx, `
		SELECT id, coalesce(owner_id, ''), account_id, name, title, email, identity_consent, identity_consent_source, identity_consent_at
		FROM contacts WHERE id = $1`, id).
		Scan(&c.ID, &c.OwnerID, &c.AccountID, &c.Name, &c.Title, &c.Email, &consent, &c.IdentityConsentSource, &c.IdentityConsentAt)
	if err != nil {
		return c, notFound(err, "contact "+id)
	}
	c.IdentityConsent = &consent
	return c, nil
}

// People returns, by customer id, those of ids whom reps may see by
// more than their id: the fields shown allows of each contact who
// consented and is not do-not-track, neither themselves nor through
// their account. It reads nothing when shown is none. Read at each call,
// never copied, so that withdrawal, do-not-track and erasure take effect
// at the next read.
func (s *Directory) People(ctx context.Context, shown dowser.IdentityFields, ids []string) (map[string]dowser.Person, error) {
	ids = dowser.UniqueIDs(ids)
	if shown.None() || len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, c.name, c.title, c.email FROM contacts c
		WHERE c.id = ANY($1::text[]) AND c.identity_consent
			AND NOT EXISTS (SELECT 1 FROM do_not_track d WHERE (d.kind = 'customer' AND d.id = c.id)
				OR (d.kind = 'account' AND c.account_id <> '' AND d.id = c.account_id))`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading who %d people are: %w", len(ids), err)
	}
	out := make(map[string]dowser.Person)
	var p dowser.Person
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.Name, &p.Title, &p.Email}, func() error {
		if shownP, ok := shown.Show(p); ok {
			out[p.ID] = shownP
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading who %d people are: %w", len(ids), err)
	}
	return out, nil
}

// PutTerritoryRule creates or updates a territory rule.
func (s *Directory) PutTerritoryRule(ctx context.Context, r dowser.TerritoryRule) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO territory_rules (id, priority, region, industry, size, rep_id) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET priority = $2, region = $3, industry = $4, size = $5, rep_id = $6, updated_at = now()`,
		r.ID, r.Priority, r.Region, r.Industry, r.Size, r.RepID)
	if err != nil {
		return fmt.Errorf("saving territory rule %q: %w", r.ID, err)
	}
	return nil
}

// GetTerritoryRule returns the territory rule with that id, or dowser.ErrNotFound.
func (s *Directory) GetTerritoryRule(ctx context.Context, id string) (dowser.TerritoryRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, priority, region, industry, size, rep_id FROM territory_rules WHERE id = $1`, id)
	if err != nil {
		return dowser.TerritoryRule{}, fmt.Errorf("reading territory rule %q: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[dowser.TerritoryRule])
	if err != nil {
		return r, notFound(err, "territory rule "+id)
	}
	return r, nil
}

// DeleteTerritoryRule deletes a territory rule, or returns dowser.ErrNotFound.
func (s *Directory) DeleteTerritoryRule(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM territory_rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("deleting territory rule %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("territory rule %s: %w", id, dowser.ErrNotFound)
	}
	return nil
}

// ListTerritoryRules returns every territory rule in the order routing
// tries them.
func (s *Directory) ListTerritoryRules(ctx context.Context) ([]dowser.TerritoryRule, error) {
	return s.territoryRules(ctx)
}

// RoutingTerritoryRules returns every territory rule in the order routing
// tries them, and the role of each rule's rep now ("" when the rep is no
// user), roles[i] for rules[i], for routing to skip a rep whose role no
// longer fits.
func (s *Directory) RoutingTerritoryRules(ctx context.Context) (rules []dowser.TerritoryRule, roles []dowser.Role, err error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.priority, r.region, r.industry, r.size, r.rep_id, coalesce(u.role, '')
		FROM territory_rules r LEFT JOIN users u ON u.id = r.rep_id AND NOT u.disabled AND u.deleted_at IS NULL
		ORDER BY r.priority, r.id`)
	if err != nil {
		return nil, nil, markPermanent(fmt.Errorf("listing territory rules: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var r dowser.TerritoryRule
		var role dowser.Role
		if err := rows.Scan(&r.ID, &r.Priority, &r.Region, &r.Industry, &r.Size, &r.RepID, &role); err != nil {
			return nil, nil, markPermanent(fmt.Errorf("reading territory rules: %w", err))
		}
		rules, roles = append(rules, r), append(roles, role)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, markPermanent(fmt.Errorf("reading territory rules: %w", err))
	}
	return rules, roles, nil
}

func (s *Directory) territoryRules(ctx context.Context) ([]dowser.TerritoryRule, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.priority, r.region, r.industry, r.size, r.rep_id FROM territory_rules r
		ORDER BY r.priority, r.id`)
	if err != nil {
		return nil, fmt.Errorf("listing territory rules: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.TerritoryRule])
	if err != nil {
		return nil, fmt.Errorf("reading territory rules: %w", err)
	}
	if out == nil {
		out = []dowser.TerritoryRule{}
	}
	return out, nil
}

// Subscribers returns, by id, the managers subscribed to one of the users.
func (s *Directory) Subscribers(ctx context.Context, userIDs []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT m.manager_id FROM manager_subscriptions m JOIN users u ON u.id = m.manager_id
		WHERE m.rep_id = ANY($1::text[]) AND u.role = 'manager' AND NOT u.disabled AND u.deleted_at IS NULL ORDER BY m.manager_id`, userIDs)
	if err != nil {
		return nil, markPermanent(fmt.Errorf("finding subscribed managers: %w", err))
	}
	managers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, markPermanent(fmt.Errorf("reading subscribed managers: %w", err))
	}
	return managers, nil
}

// ContactRouting returns the owner and account of the person with that
// customer id, as routing needs them: empty when the person is unknown;
// ownerRole is the owner's role now, "" when the owner is no user.
func (s *Directory) ContactRouting(ctx context.Context, customerID string) (c dowser.Contact, ownerRole dowser.Role, err error) {
	c = dowser.Contact{ID: customerID}
	err = s.pool.QueryRow(ctx, `
		SELECT coalesce(c.owner_id, ''), coalesce(u.role, ''), c.account_id FROM contacts c LEFT JOIN users u ON u.id = c.owner_id AND NOT u.disabled AND u.deleted_at IS NULL
		WHERE c.id = $1`, customerID).Scan(&c.OwnerID, &ownerRole, &c.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, "", nil
	}
	if err != nil {
		// Not the id: the message ends up in logs.
		return c, "", markPermanent(fmt.Errorf("reading a contact: %w", err))
	}
	return c, ownerRole, nil
}

// AccountRouting returns the account as routing needs it: empty when the
// account is unknown; ownerRole is the owner's role now, "" when the owner
// is no user.
func (s *Directory) AccountRouting(ctx context.Context, accountID string) (a dowser.Account, ownerRole dowser.Role, err error) {
	a = dowser.Account{ID: accountID}
	err = s.pool.QueryRow(ctx, `
		SELECT a.name, coalesce(a.owner_id, ''), coalesce(u.role, ''), a.lifecycle, a.region, a.industry, a.size
		FROM accounts a LEFT JOIN users u ON u.id = a.owner_id AND NOT u.disabled AND u.deleted_at IS NULL WHERE a.id = $1`, accountID).
		Scan(&a.Name, &a.OwnerID, &ownerRole, &a.Lifecycle, &a.Region, &a.Industry, &a.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, "", nil
	}
	if err != nil {
		return a, "", markPermanent(fmt.Errorf("reading account %q: %w", accountID, err))
	}
	return a, ownerRole, nil
}

// Reps returns the ids of every active (not disabled or deleted) user
// with the rep role, by id.
func (s *Directory) Reps(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM users WHERE role = 'rep' AND NOT disabled AND deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, markPermanent(fmt.Errorf("listing reps: %w", err))
	}
	reps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, markPermanent(fmt.Errorf("reading reps: %w", err))
	}
	return reps, nil
}

// isForeignKeyViolation reports whether err is PostgreSQL's
// foreign_key_violation: a referenced row does not exist.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// AccountOwners returns every account's owner and lifecycle, by account
// id: what a backtest needs to count alerts per rep and to fill in the
// lifecycle of events that carry none, as the live service does.
func (s *Directory) AccountOwners(ctx context.Context) (map[string][2]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(owner_id, ''), lifecycle FROM accounts`)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out := map[string][2]string{}
	var id, owner, lifecycle string
	_, err = pgx.ForEachRow(rows, []any{&id, &owner, &lifecycle}, func() error {
		out[id] = [2]string{owner, lifecycle}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}

// UserRoles returns the role of each of the ids that is an active user;
// ids that are not users, or whose user is disabled or deleted, are
// absent: none of them may own anything or receive alerts.
func (s *Directory) UserRoles(ctx context.Context, ids []string) (map[string]dowser.Role, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, role FROM users WHERE id = ANY($1::text[]) AND NOT disabled AND deleted_at IS NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("looking up users: %w", err)
	}
	defer rows.Close()
	out := make(map[string]dowser.Role)
	for rows.Next() {
		var id string
		var role dowser.Role
		if err := rows.Scan(&id, &role); err != nil {
			return nil, fmt.Errorf("reading users: %w", err)
		}
		out[id] = role
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading users: %w", err)
	}
	return out, nil
}
