-- A second database on the same server for the corpusforge audit log.
CREATE DATABASE corpusforge_audit OWNER corpusforge;
