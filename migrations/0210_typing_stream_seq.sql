-- Typing positions shared by the processes of a cluster (several server
-- processes on one database). A single process counts typing positions in
-- memory and does not use this sequence.
CREATE SEQUENCE IF NOT EXISTS typing_stream_seq;
