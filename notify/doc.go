// Package notify decides who hears about an alert and pushes it to them:
// routing (the sales owner and the marketing owners), and the websocket hub
// that delivers numbered, resumable alert frames to connected users and
// tells them the verdicts given on any instance ([VerdictNews]).
//
// Storage reaches it through the small interfaces declared here.
//
// It is the only package that imports github.com/gorilla/websocket.
//
// It imports only: dowser, loop, schema.
package notify
