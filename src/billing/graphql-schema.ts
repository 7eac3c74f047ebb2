// The billing GraphQL schema (the contract the client module is built to), its limits, and how a selection
// becomes the list of columns read from Postgres.
import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';
import { costLimitRule } from '../platform/graphql.ts';
import { MAX_FIRST } from './records-query.ts';
import type { RecordColumn } from './record-schema.ts';

export const MAX_PRODUCT_RECORDS = 100;
export const MAX_BATCH_FIRST = 100;

export const billingSchema = /* GraphQL */ `
  "An ISO 8601 instant with an offset, e.g. 2024-05-01T12:00:00Z."
  scalar DateTime
  "An integer as a JSON number, within ±(2^53-1)."
  scalar Long
  "Any JSON value."
  scalar JSON

  enum BillingRecordKind {
    invoice
    payment
    credit_note
    refund
    adjustment
  }

  """
  Lists are any-of; criteria are all-of; *After and amountMin are inclusive, *Before exclusive,
  amountMax inclusive. A filter with no criteria matches nothing.
  """
  input BillingRecordFilter {
    productGids: [ID!]
    clientGids: [ID!]
    kinds: [BillingRecordKind!]
    "open, paid, failed, void, refunded, pending."
    statuses: [String!]
    createdAfter: DateTime
    createdBefore: DateTime
    dueAfter: DateTime
    dueBefore: DateTime
    paidAfter: DateTime
    paidBefore: DateTime
    amountMin: Long
    amountMax: Long
    "ISO 4217, any case."
    currency: String
  }

  type BillingRecord {
    id: ID!
    gid: ID!
    productGid: ID!
    clientGid: ID!
    kind: BillingRecordKind!
    status: String!
    "Minor units; negative for credits, refunds and some adjustments."
    amount: Long!
    "ISO 4217, lower case."
    currency: String!
    dueAt: DateTime
    paidAt: DateTime
    createdAt: DateTime!
    updatedAt: DateTime!
    stripeId: String
    "Other records of the same product, newest first (batched: one query per page). first: 1-${MAX_PRODUCT_RECORDS}."
    productRecords(first: Int = 10): [BillingRecord!]!
    "The Stripe mirror's invoice when stripe_id is set and stripe-sync's tables exist (batched)."
    stripeInvoice: StripeInvoice
  }

  type StripeInvoice {
    id: ID!
    status: String
    amountDue: Long
    amountPaid: Long
    hostedInvoiceUrl: String
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type BillingRecordEdge {
    cursor: String!
    node: BillingRecord!
  }

  type BillingRecordConnection {
    edges: [BillingRecordEdge!]!
    nodes: [BillingRecord!]!
    pageInfo: PageInfo!
  }

  type ProductBillingRecords {
    productGid: ID!
    records: [BillingRecord!]!
  }

  type ProductLastRecord {
    productGid: ID!
    createdAt: DateTime
  }

  type Query {
    "Newest first. first: 1-${MAX_FIRST}; after: the endCursor of the previous page."
    billingRecords(filter: BillingRecordFilter!, first: Int = 50, after: String): BillingRecordConnection!
    "The newest first (1-${MAX_BATCH_FIRST}) records of each product (at most 1000 gids), in input order: one SQL query."
    billingRecordsForProducts(productGids: [ID!]!, filter: BillingRecordFilter, first: Int = 50): [ProductBillingRecords!]!
    "When each product's newest record was created, in input order (at most 1000 gids): one SQL query."
    lastBillingRecordCreatedAt(productGids: [ID!]!): [ProductLastRecord!]!
    "One record by its gid; null when there is none."
    billingRecord(gid: ID!): BillingRecord
    "Records by gid, in input order, null where there is none (at most 1000 gids): one SQL query."
    billingRecordsByGids(gids: [ID!]!): [BillingRecord]!
  }

  input BillingRecordInput {
    productGid: ID!
    clientGid: ID!
    kind: BillingRecordKind!
    status: String!
    amount: Long!
    currency: String!
    dueAt: DateTime
    paidAt: DateTime
    stripeId: String
    metadata: JSON
  }

  input BillingRecordPatch {
    status: String
    amount: Long
    dueAt: DateTime
    paidAt: DateTime
    metadata: JSON
  }

  "Internal API keys only."
  type Mutation {
    "The same idempotencyKey with the same input answers the record made the first time."
    createBillingRecord(input: BillingRecordInput!, idempotencyKey: String): BillingRecord!
    updateBillingRecord(gid: ID!, patch: BillingRecordPatch!): BillingRecord!
  }
`;

/** Nesting (mercurius queryDepth), and breadth and rows (the cost rule). */
export const GRAPHQL_LIMITS = {
  queryDepth: 6,
  validationRules: [
    costLimitRule({
      maxFields: 300,
      queries: { fields: ['billingRecords', 'billingRecordsForProducts', 'lastBillingRecordCreatedAt', 'billingRecord', 'billingRecordsByGids', 'productRecords', 'stripeInvoice'], max: 8, what: 'billing lookups' },
      rows: {
        max: 50_000,
        fields: {
          billingRecords: { default: 50, max: MAX_FIRST },
          billingRecordsForProducts: { default: 50, max: MAX_BATCH_FIRST },
          productRecords: { default: 10, max: MAX_PRODUCT_RECORDS },
        },
      },
    }),
  ],
};

// ---------------------------------------------------------------------------------------------
// Selection → columns.

const COLUMN_OF_FIELD: Record<string, RecordColumn> = {
  id: 'id',
  gid: 'gid',
  productGid: 'product_gid',
  clientGid: 'client_gid',
  kind: 'kind',
  status: 'status',
  amount: 'amount',
  currency: 'currency',
  dueAt: 'due_at',
  paidAt: 'paid_at',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  stripeId: 'stripe_id',
  // Nested fields need the column they are looked up by.
  productRecords: 'product_gid',
  stripeInvoice: 'stripe_id',
};

type Fragments = Record<string, FragmentDefinitionNode>;

/** The fields selected directly in `set`, through fragments. */
function fieldsIn(set: SelectionSetNode | undefined, fragments: Fragments, out: FieldNode[] = []): FieldNode[] {
  for (const s of set?.selections ?? []) {
    if (s.kind === Kind.FIELD) out.push(s);
    else if (s.kind === Kind.INLINE_FRAGMENT) fieldsIn(s.selectionSet, fragments, out);
    else fieldsIn(fragments[s.name.value]?.selectionSet, fragments, out);
  }
  return out;
}

/** Follows `path` (field names) down from `nodes`: e.g. ['edges', 'node'] from a connection. */
function descend(nodes: readonly FieldNode[], path: string[], fragments: Fragments): FieldNode[] {
  let current = [...nodes];
  for (const name of path) current = current.flatMap((n) => fieldsIn(n.selectionSet, fragments)).filter((f) => f.name.value === name);
  return current;
}

/** Columns the record fields selected at each of `paths` below the current field need. */
export function selectedColumns(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, paths: string[][]): Set<RecordColumn> {
  const columns = new Set<RecordColumn>();
  for (const path of paths) {
    for (const record of descend(info.fieldNodes, path, info.fragments)) {
      for (const field of fieldsIn(record.selectionSet, info.fragments)) {
        const column = COLUMN_OF_FIELD[field.name.value];
        if (column) columns.add(column);
      }
    }
  }
  return columns;
}
