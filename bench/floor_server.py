"""python -m bench.floor_server: a grpc.aio server whose GetProduct answers a constant, with nothing else around it
(no interceptor, no database, no log line): what a call costs in Python on this machine before any of our code runs,
measured in the same run as the services (make bench, target 1)."""
import asyncio
import json

import grpc
from ecommerce.products.v1 import products_pb2, products_pb2_grpc

from services.settings import CommandLine

ANSWER = products_pb2.Product(id=1, name='Rugged Walnut Lantern KX-204', description='A constant answer.',
                              price='12.34', currency_code='USD', stock_quantity=1000)


class ConstantProducts(products_pb2_grpc.ProductServiceServicer):
    async def GetProduct(self, request, context):
        return ANSWER


async def serve():
    server = grpc.aio.server()
    products_pb2_grpc.add_ProductServiceServicer_to_server(ConstantProducts(), server)
    port = server.add_insecure_port('127.0.0.1:0')
    await server.start()
    print(json.dumps({'message': 'serving', 'port': port}), flush=True)  # as bench.processes.Process reads it
    await server.wait_for_termination()


if __name__ == '__main__':
    CommandLine(prog='python -m bench.floor_server', description=__doc__).parse_args()
    asyncio.run(serve())
