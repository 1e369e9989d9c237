DROP TABLE messages;
DROP TABLE room_members;
DROP TABLE rooms;
DROP TABLE users;
