package main

import (
	"context"

	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/postgres"
)

// routingDirectory answers the router's questions from the store.
type routingDirectory struct{ store *postgres.Store }

var _ notify.Directory = routingDirectory{}

func (d routingDirectory) Contact(ctx context.Context, customerID string) (notify.Contact, error) {
	c, role, err := d.store.ContactRouting(ctx, customerID)
	return notify.Contact{OwnerID: c.OwnerID, OwnerRole: role, AccountID: c.AccountID}, err
}

func (d routingDirectory) Account(ctx context.Context, accountID string) (notify.Account, error) {
	a, role, err := d.store.AccountRouting(ctx, accountID)
	return notify.Account{OwnerID: a.OwnerID, OwnerRole: role, Region: a.Region, Industry: a.Industry, Size: a.Size}, err
}

func (d routingDirectory) TerritoryRules(ctx context.Context) ([]notify.TerritoryRule, error) {
	rules, roles, err := d.store.RoutingTerritoryRules(ctx)
	out := make([]notify.TerritoryRule, len(rules))
	for i, r := range rules {
		out[i] = notify.TerritoryRule{ID: r.ID, Region: r.Region, Industry: r.Industry, Size: r.Size, RepID: r.RepID, RepRole: roles[i]}
	}
	return out, err
}

func (d routingDirectory) Reps(ctx context.Context) ([]string, error) { return d.store.Reps(ctx) }

func (d routingDirectory) ContentOwners(ctx context.Context, contentIDs, urls []string) ([]notify.Owner, error) {
	owners, err := d.store.ContentOwners(ctx, contentIDs, urls)
	out := make([]notify.Owner, len(owners))
	for i, o := range owners {
		out[i] = notify.Owner{ID: o.ID, Role: o.Role}
	}
	return out, err
}

func (d routingDirectory) UserRole(ctx context.Context, userID string) (string, error) {
	return d.store.RoleOf(ctx, userID)
}

func (d routingDirectory) Subscribers(ctx context.Context, userIDs []string) ([]string, error) {
	return d.store.Subscribers(ctx, userIDs)
}
