-- The anyport index: built from the catalog and registries by anyport.index.build, opened read-only.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE services (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    origin TEXT NOT NULL,
    summary TEXT NOT NULL,          -- what a lookup shows, as JSON (anyport.query.kb.ServiceRow)
    doc TEXT NOT NULL               -- the whole service as JSON (anyport.serialize)
);
CREATE TABLE ranges (               -- every port range and IP protocol a service opens (pairs resolved)
    service TEXT NOT NULL,
    spec INTEGER NOT NULL,          -- index into the service's ports
    transport TEXT NOT NULL,        -- tcp, udp, sctp, dccp or ip
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    allocation TEXT NOT NULL,
    via TEXT NOT NULL,              -- 'pair:<service>' when derived from another service's ports
    label TEXT NOT NULL,            -- the whole spec, e.g. '6881-6889/tcp' or 'ip 47'
    role TEXT NOT NULL,
    direction TEXT NOT NULL,
    optional INTEGER NOT NULL,
    uncertain INTEGER NOT NULL,
    base INTEGER,
    pair_offset INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX ranges_by_port ON ranges (transport, start, end);
CREATE TABLE refs (service TEXT NOT NULL, ref TEXT NOT NULL, spec INTEGER NOT NULL);
CREATE INDEX refs_by_ref ON refs (ref);
CREATE TABLE names (name TEXT NOT NULL, service TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX names_by_name ON names (name);
CREATE TABLE dnssd (type TEXT NOT NULL, service TEXT NOT NULL, spec INTEGER NOT NULL);
CREATE INDEX dnssd_by_type ON dnssd (type);
CREATE TABLE categories (category TEXT NOT NULL, service TEXT NOT NULL);
CREATE INDEX categories_by_category ON categories (category);
CREATE TABLE iana (
    name TEXT NOT NULL,
    transport TEXT NOT NULL,
    start INTEGER,
    end INTEGER,
    description TEXT NOT NULL,
    assignee TEXT NOT NULL,
    contact TEXT NOT NULL,
    registered TEXT NOT NULL,
    modified TEXT NOT NULL,
    reference TEXT NOT NULL,
    service_code TEXT NOT NULL,
    unauthorized TEXT NOT NULL,
    notes TEXT NOT NULL
);
CREATE INDEX iana_by_port ON iana (transport, start, end);
CREATE INDEX iana_by_name ON iana (name COLLATE NOCASE);
CREATE TABLE protocols (number INTEGER PRIMARY KEY, keyword TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE trojans (port INTEGER NOT NULL, transport TEXT NOT NULL, names TEXT NOT NULL);
CREATE INDEX trojans_by_port ON trojans (port);
CREATE TABLE nmap (port INTEGER NOT NULL, transport TEXT NOT NULL, name TEXT NOT NULL, frequency REAL NOT NULL);
CREATE INDEX nmap_by_port ON nmap (port, transport);
CREATE TABLE vocab (term TEXT PRIMARY KEY, weight INTEGER NOT NULL) WITHOUT ROWID;
CREATE VIRTUAL TABLE service_fts USING fts5 (
    id, title, aliases, categories, description, notes,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE iana_fts USING fts5 (
    name UNINDEXED, words, description,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
