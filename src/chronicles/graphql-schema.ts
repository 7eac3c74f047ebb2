// The two GraphQL schemas: the public search (/graphql) and the internal administration
// (/internal/graphql). Their scalars and the query-cost rule are the platform's (src/platform/graphql.ts).

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
