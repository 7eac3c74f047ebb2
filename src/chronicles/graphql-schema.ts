// The two GraphQL schemas: the public search (/graphql) and the internal administration
// (/internal/graphql), plus the JSON and DateTime scalars and the query-cost rule.
import { GraphQLError, GraphQLScalarType, Kind, type ASTNode, type ValidationContext, type ValueNode } from 'graphql';

const scalars = /* GraphQL */ `
  "Any JSON value."
  scalar JSON
  "An ISO 8601 instant with an offset, e.g. 2024-05-01T12:00:00Z."
  scalar DateTime
`;

const payloadCondition = /* GraphQL */ `
  enum PayloadOperation {
    "The value at the path equals value (GIN index)."
    EQ
    "The path exists and its value differs (a filter: combine it with a selective criterion)."
    NEQ
    "The value at the path equals one of value (an array of at most 100; GIN index)."
    IN
    "The path exists (a filter: combine it with a selective criterion)."
    EXISTS
    "The value at the path contains value: a subset of an object, elements of an array, an equal scalar (GIN index)."
    CONTAINS
  }

  "A condition on the payload. path: object keys (1-8 of [A-Za-z0-9_]{1,64}); value: JSON up to 4 KB."
  input PayloadCondition {
    operation: PayloadOperation!
    path: [String!]!
    value: JSON
  }
`;

export const publicSchema = /* GraphQL */ `
  ${scalars}
  ${payloadCondition}

  """
  Lists are any-of; criteria are all-of. A search needs subjectGids, performerGids, actionNames,
  tags, accessTags, sequenceCodes or an EQ/IN/CONTAINS payload condition, or a time range of at
  most 31 days.
  """
  input EntryFilter {
    app: String
    subjectType: String
    subjectGids: [String!]
    actionNames: [String!]
    performerGids: [String!]
    "Feed tags."
    tags: [String!]
    accessTags: [String!]
    sequenceCodes: [ID!]
    "Inclusive."
    occurredAfter: DateTime
    "Exclusive."
    occurredBefore: DateTime
    payload: [PayloadCondition!]
  }

  "A performed action."
  type Entry {
    id: ID!
    sequenceCode: ID!
    app: String!
    subjectType: String!
    subjectGid: String!
    actionName: String!
    performerGid: String
    payload: JSON!
    occurredAt: DateTime!
    createdAt: DateTime!
    tags: [String!]!
    accessTags: [String!]!
    "The entry rendered through the template of its (app, subjectType, actionName); null without one."
    text: String
  }

  type EntryEdge {
    cursor: String!
    node: Entry!
  }

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type EntryConnection {
    edges: [EntryEdge!]!
    nodes: [Entry!]!
    pageInfo: PageInfo!
  }

  type Query {
    "Newest first. first: 1-100; after: the endCursor of the previous page."
    entries(filter: EntryFilter!, first: Int = 20, after: String): EntryConnection!
  }
`;

export const internalSchema = /* GraphQL */ `
  ${scalars}
  ${payloadCondition}

  enum TagKind {
    FEED
    ACCESS
  }

  type PayloadConditionValue {
    operation: PayloadOperation!
    path: [String!]!
    value: JSON
  }

  "Entries matching app, subjectType, one of actionNames and every condition (null = any) get the tags."
  type TagRule {
    id: ID!
    name: String!
    app: String
    subjectType: String
    actionNames: [String!]
    conditions: [PayloadConditionValue!]!
    "Tag names; placeholders such as {{subject_gid}} or {{payload.job.gid}} are filled from the entry."
    tags: [String!]!
    kind: TagKind!
    enabled: Boolean!
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  input TagRuleInput {
    name: String!
    app: String
    subjectType: String
    actionNames: [String!]
    conditions: [PayloadCondition!]
    tags: [String!]!
    kind: TagKind = FEED
    enabled: Boolean = true
  }

  type Template {
    id: ID!
    app: String!
    subjectType: String!
    actionName: String!
    "Text with placeholders: {{performer_gid}}, {{subject_gid}}, {{payload.amount}}…; a missing value renders as —."
    body: String!
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  input TemplateInput {
    app: String!
    subjectType: String!
    actionName: String!
    body: String!
  }

  type ReapplyJob {
    id: ID!
    "waiting, active, completed, failed, delayed or unknown."
    state: String!
    "{scanned, added, removed} so far."
    progress: JSON
    result: JSON
    failedReason: String
  }

  type DeadLetter {
    id: ID!
    topic: String!
    messageId: String!
    item: Int!
    reason: String!
    raw: String!
    receivedAt: DateTime!
  }

  type Query {
    tagRules: [TagRule!]!
    templates: [Template!]!
    reapplyJob(id: ID!): ReapplyJob
    "Newest first."
    deadLetters(first: Int = 50, topic: String): [DeadLetter!]!
  }

  type Mutation {
    createTagRule(input: TagRuleInput!): TagRule!
    updateTagRule(id: ID!, input: TagRuleInput!): TagRule!
    deleteTagRule(id: ID!): Boolean!
    createTemplate(input: TemplateInput!): Template!
    updateTemplate(id: ID!, input: TemplateInput!): Template!
    deleteTemplate(id: ID!): Boolean!
    "Recomputes the rule-made taggings of past entries (all, or those in the range) in the background."
    reapplyTagRules(occurredAfter: DateTime, occurredBefore: DateTime): ReapplyJob!
  }
`;

// ---------------------------------------------------------------------------------------------

function literalToJson(node: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[node.name.value];
    case Kind.ENUM:
      return node.value;
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (node, variables) => literalToJson(node, variables),
});

function toDate(value: unknown): Date {
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
    const date = new Date(value);
    if (Number.isFinite(date.getTime())) return date;
  }
  throw new GraphQLError('DateTime must be an ISO 8601 instant with an offset, e.g. 2024-05-01T12:00:00Z');
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (v) => (v instanceof Date ? v.toISOString() : toDate(v).toISOString()),
  parseValue: toDate,
  parseLiteral: (node) => {
    if (node.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return toDate(node.value);
  },
});

/**
 * Bounds the work a document can ask for (mercurius' queryDepth bounds nesting): at most
 * `maxSearches` `entries` fields (aliases included) and `maxFields` field selections in all.
 */
export function costLimitRule(maxSearches: number, maxFields: number) {
  return (context: ValidationContext) => {
    let searches = 0;
    let fields = 0;
    return {
      Field(node: ASTNode & { name: { value: string } }) {
        fields++;
        if (node.name.value === 'entries') searches++;
        if (fields === maxFields + 1) context.reportError(new GraphQLError(`Query too large: more than ${maxFields} fields`));
        if (searches === maxSearches + 1) context.reportError(new GraphQLError(`Query too costly: more than ${maxSearches} entries searches in one request`));
      },
    };
  };
}
