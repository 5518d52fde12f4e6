DROP TABLE zatca_documents;
DROP TABLE zatca_chain;
