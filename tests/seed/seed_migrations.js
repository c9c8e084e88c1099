'use strict';
// The seed's four example migrations, run by tests/unit/test_seed_parity.py.
//
// Transcribed from the seed's TypeScript design (seed/profile-migration-README.md) with two
// changes only: the `: ProfileMigration` and `(profile: any)` annotations are dropped, and
// `new Date().toISOString()` reads the run's fixed start time given on stdin, so Python and
// JavaScript stamp the same instant. Everything else, `||` included, is the seed's text.
//
// stdin:  {"runStartedAt": "<ISO-8601>", "cases": [{"id": "...", "steps": ["1->2", ...],
//          "profile": {...}}]}
// stdout: {"<id>": {"result": <profile>} | {"error": "<Name>: <message>"}}
// JSON.stringify drops keys whose value is `undefined`, which is how the seed removes a field.

const fs = require('fs');

const request = JSON.parse(fs.readFileSync(0, 'utf8'));
const runStartedAt = () => request.runStartedAt;

// "Adding a New Migration", Step 1: Define the Migration.
const migration_1_to_2 = {
  fromVersion: 1,
  toVersion: 2,
  description: 'Add characterType field to character profiles',
  migrate: (profile) => ({
    ...profile,
    version: 2,
    profileData: {
      ...profile.profileData,
      characterType: profile.profileData.characterType || 'UNKNOWN',
    },
  }),
};

// "Example Migrations", Renaming a Field.
const migration_2_to_3 = {
  fromVersion: 2,
  toVersion: 3,
  description: 'Rename characterName to name',
  migrate: (profile) => ({
    ...profile,
    version: 3,
    profileData: {
      ...profile.profileData,
      name: profile.profileData.characterName,
      characterName: undefined, // Remove old field
    },
  }),
};

// "Example Migrations", Restructuring Data.
const migration_3_to_4 = {
  fromVersion: 3,
  toVersion: 4,
  description: 'Move metadata into nested object',
  migrate: (profile) => ({
    ...profile,
    version: 4,
    profileData: {
      ...profile.profileData,
      metadata: {
        createdBy: profile.profileData.createdBy,
        tags: profile.profileData.tags || [],
      },
      createdBy: undefined,
      tags: undefined,
    },
  }),
};

// "Example Migrations", Adding a New Field. The seed numbers it 1 -> 2; CICADA's chain runs
// it fourth, so it is renumbered 4 -> 5 here.
const migration_4_to_5 = {
  fromVersion: 4,
  toVersion: 5,
  description: 'Add lastAccessedAt timestamp',
  migrate: (profile) => ({
    ...profile,
    version: 5,
    lastAccessedAt: profile.updatedAt || runStartedAt(),
  }),
};

// Test harness, not seed code: run the named steps in order.
const migrations = {
  '1->2': migration_1_to_2,
  '2->3': migration_2_to_3,
  '3->4': migration_3_to_4,
  '4->5': migration_4_to_5,
};

const outcomes = {};
for (const { id, steps, profile } of request.cases) {
  try {
    outcomes[id] = { result: steps.reduce((current, step) => migrations[step].migrate(current), profile) };
  } catch (error) {
    outcomes[id] = { error: `${error.name}: ${error.message}` };
  }
}
process.stdout.write(JSON.stringify(outcomes));
